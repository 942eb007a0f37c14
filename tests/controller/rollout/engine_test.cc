// Rules 1-4, 7-10 of engine.h: stages, canaries, windows, pauses, offline
// hosts, with a fake clock.
#include "controller/rollout/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/controller/rollout/rollout_test_util.h"

namespace topos::rollout {
namespace {

using std::chrono::seconds;
using testing::Driver;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Hosts;
using ::testing::IsEmpty;
using testing::Names;
using testing::OnePool;

RolloutStrategy Window(int n) {
  RolloutStrategy s;
  s.max_unavailable = {MaxUnavailable::Unit::kHosts, n};
  return s;
}

TEST(NewRollout, MarksTheFirstCanaryHostsOfEachPool) {
  RolloutStrategy s;
  s.canary = 2;
  Result<RolloutProgress> p =
      NewRollout(s, {{"db"}, {"chat"}}, {{"chat", Hosts("c", 3)}, {"db", Hosts("d", 1)}});
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_EQ(p->pools.size(), 2u);
  EXPECT_EQ(p->pools[0].name, "db");
  EXPECT_EQ(p->pools[0].stage, 0);
  EXPECT_TRUE(p->pools[0].hosts[0].canary);  // a pool smaller than --canary: all canaries
  EXPECT_EQ(p->pools[1].stage, 1);
  EXPECT_TRUE(p->pools[1].hosts[0].canary);
  EXPECT_TRUE(p->pools[1].hosts[1].canary);
  EXPECT_FALSE(p->pools[1].hosts[2].canary);
  EXPECT_EQ(p->state, RunState::kRunning);
}

TEST(NewRollout, RefusesHostsTwiceMissingPoolsAndBadStrategies) {
  RolloutStrategy s;
  Result<RolloutProgress> twice = NewRollout(s, {{"a", "b"}}, {{"a", {"h1", "h2"}}, {"b", {"h2"}}});
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.status().message(), HasSubstr("host h2 is in both pool \"a\" and pool \"b\""));

  Result<RolloutProgress> no_hosts = NewRollout(s, {{"a", "b"}}, {{"a", {"h1"}}});
  ASSERT_FALSE(no_hosts.ok());
  EXPECT_THAT(no_hosts.status().message(), HasSubstr("\"b\" is in a stage but has no host list"));

  Result<RolloutProgress> unstaged = NewRollout(s, {{"a"}}, {{"a", {"h1"}}, {"b", {"h2"}}});
  ASSERT_FALSE(unstaged.ok());
  EXPECT_THAT(unstaged.status().message(), HasSubstr("\"b\" has hosts but is in no stage"));

  RolloutStrategy bad;
  bad.pause_after_canary = true;
  Result<RolloutProgress> invalid = NewRollout(bad, {{"a"}}, {{"a", {"h1"}}});
  ASSERT_FALSE(invalid.ok());
  EXPECT_THAT(invalid.status().message(), HasSubstr("--pause-after-canary"));
}

TEST(Engine, SlidingWindowStartsANewHostAsSoonAsOneFinishes) {
  Driver d(OnePool(Window(2), 5));
  EXPECT_THAT(d.Step(), ElementsAre("c1", "c2"));
  EXPECT_THAT(d.Step(), IsEmpty());  // same time, nothing finished: nothing new
  d.Finish("c2", true);
  EXPECT_THAT(d.Step(), ElementsAre("c3"));  // c1 still running: one slot
  d.Finish("c1", true);
  d.Finish("c3", true);
  EXPECT_THAT(d.Step(), ElementsAre("c4", "c5"));
  EXPECT_FALSE(d.last().done);
  d.FinishRunning(true);
  EXPECT_TRUE(d.last().done);
  EXPECT_EQ(d.state(), RunState::kSucceeded);
  EXPECT_EQ(d.reason(), "5 hosts deployed");
}

TEST(Engine, PercentWindowUsesThePoolSize) {
  RolloutStrategy s;
  s.max_unavailable = {MaxUnavailable::Unit::kPercent, 10};
  Driver d(OnePool(s, 25));  // 10% of 25 = 2.5 -> 2
  EXPECT_EQ(d.Step().size(), 2u);
  Driver small(OnePool(s, 15));  // 10% of 15 = 1.5 -> 1
  EXPECT_EQ(small.Step().size(), 1u);
}

TEST(Engine, CanariesGoFirstTogetherThenTheWindow) {
  RolloutStrategy s = Window(1);
  s.canary = 2;
  Driver d(OnePool(s, 5));
  EXPECT_THAT(d.Step(), ElementsAre("c1", "c2"));  // both canaries, despite a window of 1
  d.Finish("c1", true);
  EXPECT_THAT(d.Step(), IsEmpty());  // main hosts wait for every canary
  d.Finish("c2", true);
  EXPECT_THAT(d.Step(), ElementsAre("c3"));
  EXPECT_THAT(d.FinishRunning(true), ElementsAre("c4"));
  EXPECT_THAT(d.FinishRunning(true), ElementsAre("c5"));
  d.FinishRunning(true);
  EXPECT_EQ(d.state(), RunState::kSucceeded);
}

TEST(Engine, AStageStartsOnlyWhenEveryPoolOfThePreviousOneFinished) {
  RolloutStrategy s = Window(5);
  Result<RolloutProgress> p = NewRollout(
      s, {{"db", "edge"}, {"chat"}}, {{"db", {"d1"}}, {"edge", {"e1", "e2"}}, {"chat", {"c1"}}});
  ASSERT_TRUE(p.ok());
  Driver d(*p);
  EXPECT_THAT(d.Step(), ElementsAre("d1", "e1", "e2"));
  d.Finish("d1", true);
  d.Finish("e1", true);
  EXPECT_THAT(d.Step(), IsEmpty());  // e2 of stage 0 still running
  d.Finish("e2", true);
  EXPECT_THAT(d.Step(), ElementsAre("c1"));
}

TEST(Engine, EmptyPoolsDoNotHoldUpTheRollout) {
  Result<RolloutProgress> p =
      NewRollout(Window(1), {{"empty"}, {"chat"}}, {{"empty", {}}, {"chat", {"c1"}}});
  ASSERT_TRUE(p.ok());
  Driver d(*p);
  EXPECT_THAT(d.Step(), ElementsAre("c1"));
  d.FinishRunning(true);
  EXPECT_EQ(d.state(), RunState::kSucceeded);
}

TEST(Engine, PauseAfterCanaryWaitsForResume) {
  RolloutStrategy s = Window(2);
  s.canary = 1;
  s.pause_after_canary = true;
  Driver d(OnePool(s, 4));
  EXPECT_THAT(d.Step(), ElementsAre("c1"));
  EXPECT_THAT(d.FinishRunning(true), IsEmpty());
  EXPECT_EQ(d.state(), RunState::kPausedForCanary);
  EXPECT_THAT(d.reason(), HasSubstr("rollout resume"));
  d.clock.Advance(seconds(3600));  // an hour later: still waiting
  EXPECT_THAT(d.Step(), IsEmpty());
  EXPECT_EQ(d.state(), RunState::kPausedForCanary);
  EXPECT_FALSE(d.last().done);
  d.Apply(Resume(d.progress()));
  EXPECT_EQ(d.state(), RunState::kRunning);
  EXPECT_THAT(d.Step(), ElementsAre("c2", "c3"));
  EXPECT_THAT(d.FinishRunning(true), ElementsAre("c4"));  // no second pause in this stage
  d.FinishRunning(true);
  EXPECT_EQ(d.state(), RunState::kSucceeded);
}

TEST(Engine, PauseAfterCanaryWaitsForEveryPoolOfTheStageThenPausesOnce) {
  RolloutStrategy s = Window(1);
  s.canary = 1;
  s.pause_after_canary = true;
  Result<RolloutProgress> p = NewRollout(
      s, {{"a", "b"}, {"c"}}, {{"a", {"a1", "a2"}}, {"b", {"b1", "b2"}}, {"c", {"c1", "c2"}}});
  ASSERT_TRUE(p.ok());
  Driver d(*p);
  EXPECT_THAT(d.Step(), ElementsAre("a1", "b1"));
  d.Finish("a1", true);
  EXPECT_THAT(d.Step(), IsEmpty());  // a is gated; b's canary still runs
  EXPECT_EQ(d.state(), RunState::kRunning);
  d.Finish("b1", true);
  EXPECT_THAT(d.Step(), IsEmpty());
  EXPECT_EQ(d.state(), RunState::kPausedForCanary);
  d.Apply(Resume(d.progress()));
  EXPECT_THAT(d.Step(), ElementsAre("a2", "b2"));
  EXPECT_THAT(d.FinishRunning(true), ElementsAre("c1"));  // next stage: its own canary
  EXPECT_THAT(d.FinishRunning(true), IsEmpty());
  EXPECT_EQ(d.state(), RunState::kPausedForCanary);
}

TEST(Engine, PauseStopsNewStartsWhileRunningHostsFinish) {
  Driver d(OnePool(Window(2), 4));
  EXPECT_THAT(d.Step(), ElementsAre("c1", "c2"));
  d.Apply(Pause(d.progress()));
  EXPECT_EQ(d.state(), RunState::kPaused);
  d.Finish("c1", true);  // running hosts still report
  EXPECT_THAT(d.Step(), IsEmpty());
  d.Finish("c2", true);
  EXPECT_THAT(d.Step(), IsEmpty());
  EXPECT_FALSE(d.last().done);
  d.Apply(Resume(d.progress()));
  EXPECT_THAT(d.Step(), ElementsAre("c3", "c4"));
}

TEST(Engine, PauseResumeAndAbortRefuseStatesTheyDoNotApplyTo) {
  Driver d(OnePool(Window(1), 2));
  d.Step();
  Result<RolloutProgress> resume = Resume(d.progress());
  ASSERT_FALSE(resume.ok());
  EXPECT_EQ(resume.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(resume.status().message(), HasSubstr("is running"));
  d.Apply(Pause(d.progress()));
  Result<RolloutProgress> again = Pause(d.progress());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kFailedPrecondition);
  d.Apply(Abort(d.progress(), "wrong version"));
  EXPECT_EQ(d.state(), RunState::kAborted);
  EXPECT_EQ(d.reason(), "aborted by the operator: wrong version");
  for (const Result<RolloutProgress>& r :
       {Pause(d.progress()), Resume(d.progress()), Abort(d.progress(), "x")}) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
    EXPECT_THAT(r.status().message(), HasSubstr("aborted"));
  }
}

TEST(Engine, AbortStartsNothingMoreAndIsDoneWhenRunningHostsFinish) {
  Driver d(OnePool(Window(2), 5));
  EXPECT_THAT(d.Step(), ElementsAre("c1", "c2"));
  d.Apply(Abort(d.progress(), ""));
  EXPECT_EQ(d.reason(), "aborted by the operator");
  d.Finish("c1", true);
  EXPECT_THAT(d.Step(), IsEmpty());
  EXPECT_FALSE(d.last().done);  // c2 still running
  d.Finish("c2", false);        // the caller cancelled it
  EXPECT_THAT(d.Step(), IsEmpty());
  EXPECT_TRUE(d.last().done);
  EXPECT_EQ(d.state(), RunState::kAborted);
  EXPECT_EQ(d.Host("c3").phase, HostPhase::kWaiting);
}

TEST(Engine, HostResultsAreRefusedForUnknownOrIdleHosts) {
  Driver d(OnePool(Window(1), 2));
  d.Step();
  RolloutProgress progress = d.progress();
  Status unknown = RecordHostResult(progress, "nope", true, "");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.code(), Status::Code::kNotFound);
  Status idle = RecordHostResult(progress, "c2", true, "");
  ASSERT_FALSE(idle.ok());
  EXPECT_EQ(idle.code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(idle.message(), HasSubstr("c2 is not running (it is waiting)"));
  EXPECT_EQ(RecordHostOffline(progress, "nope", d.clock.now()).code(), Status::Code::kNotFound);
}

// The runner records results in place: a refused one must change nothing
// (a late duplicate after a timeout, say), and an accepted one exactly the
// host and, through the failure rules, the state.
TEST(Engine, HostResultsRecordedInPlaceChangeNothingWhenRefused) {
  RolloutStrategy s = Window(1);
  s.failure_threshold_percent = 0;
  Driver d(OnePool(s, 2));
  d.Step();  // c1 running, c2 waiting
  RolloutProgress progress = d.progress();
  EXPECT_EQ(RecordHostResult(progress, "c2", false, "late").code(),
            Status::Code::kFailedPrecondition);
  EXPECT_EQ(RecordHostResult(progress, "nope", false, "late").code(), Status::Code::kNotFound);
  EXPECT_EQ(RecordHostOffline(progress, "nope", d.clock.now()).code(), Status::Code::kNotFound);
  EXPECT_EQ(progress.state, RunState::kRunning);
  EXPECT_EQ(progress.pools[0].hosts[1].phase, HostPhase::kWaiting);
  EXPECT_EQ(progress.pools[0].hosts[1].reason, "");

  ASSERT_TRUE(RecordHostResult(progress, "c1", false, "install failed").ok());
  EXPECT_EQ(progress.pools[0].hosts[0].phase, HostPhase::kFailed);
  EXPECT_EQ(progress.pools[0].hosts[0].reason, "install failed");
  EXPECT_EQ(progress.pools[0].hosts[1].phase, HostPhase::kWaiting);
  EXPECT_EQ(progress.state, RunState::kFailed) << "one failure is over a 0% threshold";
}

TEST(Engine, HostTransitionsRecordTheNamedHostWhateverTheSlotSays) {
  RolloutStrategy s = Window(3);
  s.failure_threshold_percent = 0;
  Driver d(OnePool(s, 3));
  d.Step();  // c1, c2, c3 running
  RolloutProgress progress = d.progress();
  // The right slot, a slot naming another host, and slots out of range.
  ASSERT_TRUE(RecordHostResult(progress, "c1", true, "", HostSlot{0, 0}).ok());
  ASSERT_TRUE(RecordHostOffline(progress, "c3", d.clock.now(), HostSlot{0, 1}).ok());
  ASSERT_TRUE(RecordHostOnline(progress, "c3", HostSlot{7, 0}).ok());
  ASSERT_TRUE(RecordHostOffline(progress, "c2", d.clock.now(), HostSlot{0, 9}).ok());
  EXPECT_EQ(progress.pools[0].hosts[0].phase, HostPhase::kSucceeded);
  EXPECT_FALSE(progress.pools[0].hosts[2].offline_since.has_value());
  EXPECT_TRUE(progress.pools[0].hosts[1].offline_since.has_value());
  EXPECT_EQ(RecordHostResult(progress, "nope", true, "", HostSlot{0, 0}).code(),
            Status::Code::kNotFound);
  EXPECT_EQ(progress.state, RunState::kRunning) << "successes never break a failure rule";
  // A failure found through a slot still applies the failure rules at once.
  ASSERT_TRUE(RecordHostResult(progress, "c2", false, "install failed", HostSlot{0, 2}).ok());
  EXPECT_EQ(progress.pools[0].hosts[1].phase, HostPhase::kFailed);
  EXPECT_EQ(progress.pools[0].hosts[2].phase, HostPhase::kRunning);
  EXPECT_EQ(progress.state, RunState::kFailed) << "one failure is over a 0% threshold";
}

TEST(Engine, OfflineHostIsPassedOverAndFailsExactlyAtTheTimeout) {
  RolloutStrategy s = Window(1);
  s.offline_timeout = seconds(300);
  s.failure_threshold_percent = 100;
  Driver d(OnePool(s, 3));
  d.Offline("c1");
  EXPECT_THAT(d.Step(), ElementsAre("c2"));  // c1 passed over
  ASSERT_TRUE(d.last().wake_at.has_value());
  EXPECT_EQ(*d.last().wake_at, d.clock.now() + seconds(300));
  d.clock.Advance(seconds(299));
  d.FinishRunning(true);
  EXPECT_EQ(d.Host("c1").phase, HostPhase::kWaiting);  // 1 s before: neither
  EXPECT_THAT(d.last().start, ElementsAre("c3"));
  d.clock.Advance(seconds(1));
  d.Step();
  EXPECT_EQ(d.Host("c1").phase, HostPhase::kFailed);
  EXPECT_THAT(d.Host("c1").reason, HasSubstr("offline longer than --offline-timeout (300s)"));
  ASSERT_EQ(d.last().resolved.size(), 1u);
  EXPECT_EQ(d.last().resolved[0].host, "c1");
  d.FinishRunning(true);
  EXPECT_EQ(d.state(), RunState::kFailed);
  EXPECT_EQ(d.reason(), "finished with 1 failed host (c1); 2 hosts deployed");
}

TEST(Engine, OfflineHostIsSkippedWithSkipOffline) {
  RolloutStrategy s = Window(1);
  s.skip_offline = true;
  s.offline_timeout = seconds(60);
  Driver d(OnePool(s, 2));
  d.Offline("c2");
  EXPECT_THAT(d.Step(), ElementsAre("c1"));
  d.clock.Advance(seconds(59));
  d.Step();
  EXPECT_EQ(d.Host("c2").phase, HostPhase::kWaiting);
  d.clock.Advance(seconds(1));
  d.Step();
  EXPECT_EQ(d.Host("c2").phase, HostPhase::kSkipped);
  d.FinishRunning(true);
  EXPECT_EQ(d.state(), RunState::kSucceeded);  // skipped hosts do not fail a rollout
  EXPECT_EQ(d.reason(), "1 host deployed, 1 skipped (c2)");
}

TEST(Engine, OfflineHostThatReturnsInTimeIsDeployed) {
  RolloutStrategy s = Window(1);
  s.offline_timeout = seconds(60);
  Driver d(OnePool(s, 2));
  d.Offline("c1");
  EXPECT_THAT(d.Step(), ElementsAre("c2"));
  d.clock.Advance(seconds(59));
  d.Online("c1");
  EXPECT_THAT(d.FinishRunning(true), ElementsAre("c1"));
  d.clock.Advance(seconds(600));
  d.FinishRunning(true);
  EXPECT_EQ(d.state(), RunState::kSucceeded);
}

TEST(Engine, OfflineWaitCountsFromWhenTheHostsTurnCame) {
  // c3 went offline long before the main phase reached it: it still gets the
  // full --offline-timeout from the moment its pool's main phase began.
  RolloutStrategy s = Window(1);
  s.canary = 1;
  s.offline_timeout = seconds(60);
  Driver d(OnePool(s, 3));
  d.Offline("c3");
  EXPECT_THAT(d.Step(), ElementsAre("c1"));
  d.clock.Advance(seconds(600));  // the canary takes 10 minutes
  EXPECT_THAT(d.FinishRunning(true), ElementsAre("c2"));
  EXPECT_EQ(d.Host("c3").phase, HostPhase::kWaiting);
  d.clock.Advance(seconds(59));
  d.Step();
  EXPECT_EQ(d.Host("c3").phase, HostPhase::kWaiting);
  d.clock.Advance(seconds(1));
  d.Step();
  EXPECT_EQ(d.Host("c3").phase, HostPhase::kFailed);
}

TEST(Engine, RunningHostOfflineTooLongFailsAsUnreachableEvenWithSkipOffline) {
  RolloutStrategy s = Window(1);
  s.skip_offline = true;
  s.offline_timeout = seconds(120);
  s.failure_threshold_percent = 100;
  Driver d(OnePool(s, 2));
  EXPECT_THAT(d.Step(), ElementsAre("c1"));
  d.Offline("c1");
  d.clock.Advance(seconds(119));
  EXPECT_THAT(d.Step(), IsEmpty());  // keeps its place in the window
  EXPECT_EQ(*d.last().wake_at, d.clock.now() + seconds(1));
  d.clock.Advance(seconds(1));
  EXPECT_THAT(d.Step(), ElementsAre("c2"));
  EXPECT_EQ(d.Host("c1").phase, HostPhase::kFailed);
  EXPECT_THAT(d.Host("c1").reason, HasSubstr("unreachable"));
}

TEST(Engine, OfflineWaitingHostsDoNotTimeOutWhilePaused) {
  RolloutStrategy s = Window(1);
  s.offline_timeout = seconds(60);
  Driver d(OnePool(s, 2));
  d.Offline("c2");
  d.Step();
  d.Apply(Pause(d.progress()));
  d.clock.Advance(seconds(600));
  d.Step();
  EXPECT_EQ(d.Host("c2").phase, HostPhase::kWaiting);
  EXPECT_FALSE(d.last().wake_at.has_value());
  d.Apply(Resume(d.progress()));
  d.Step();  // the time paused counted: it times out at once
  EXPECT_EQ(d.Host("c2").phase, HostPhase::kFailed);
}

TEST(Engine, NextIsIdempotentAtTheSameTime) {
  RolloutStrategy s = Window(3);
  Driver d(OnePool(s, 5));
  Decision first = Next(d.progress(), d.clock.now());
  Decision second = Next(first.progress, d.clock.now());
  EXPECT_EQ(first.start.size(), 3u);
  EXPECT_THAT(second.start, IsEmpty());
}

TEST(CheckHostsFree, RefusesAHostThatIsInAnotherUnfinishedRollout) {
  RolloutProgress p = OnePool(RolloutStrategy(), 3);
  EXPECT_TRUE(CheckHostsFree(p, {{"other.example", "7"}}).ok());
  Status busy = CheckHostsFree(p, {{"c2", "7"}});
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(busy.message(), HasSubstr("host c2 is in rollout 7"));
}

}  // namespace
}  // namespace topos::rollout
