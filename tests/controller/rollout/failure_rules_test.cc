// Rules 5, 6 and 9 of engine.h: the failure threshold at its edges, the
// canary rule, unreachable hosts, and how a finished rollout is judged.
#include "controller/rollout/failure_rules.h"

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
using testing::OnePool;

RolloutStrategy Threshold(int percent, int window = 1) {
  RolloutStrategy s;
  s.failure_threshold_percent = percent;
  s.max_unavailable = {MaxUnavailable::Unit::kHosts, window};
  return s;
}

TEST(OverThreshold, StrictlyOverAndOneFailureToleratedAboveZero) {
  EXPECT_FALSE(OverThreshold({1, 1}, 20));   // a single failure is tolerated
  EXPECT_FALSE(OverThreshold({5, 1}, 20));   // 20%: at the threshold
  EXPECT_FALSE(OverThreshold({10, 2}, 20));  // 20%
  EXPECT_TRUE(OverThreshold({9, 2}, 20));    // 22.2%
  EXPECT_TRUE(OverThreshold({5, 2}, 20));    // 40%
  EXPECT_TRUE(OverThreshold({2, 2}, 20));
  EXPECT_FALSE(OverThreshold({0, 0}, 0));
  EXPECT_FALSE(OverThreshold({7, 0}, 0));
  EXPECT_TRUE(OverThreshold({1, 1}, 0));  // 0%: the first failure
  EXPECT_TRUE(OverThreshold({100, 1}, 0));
  EXPECT_FALSE(OverThreshold({3, 3}, 100));  // 100%: never
  EXPECT_FALSE(OverThreshold({4, 2}, 50));   // 50% at 50%
  EXPECT_TRUE(OverThreshold({5, 3}, 50));    // 60%
}

TEST(FailurePercent, RoundsDownToATenth) {
  EXPECT_EQ(FailurePercent({5, 2}), "40%");
  EXPECT_EQ(FailurePercent({9, 2}), "22.2%");
  EXPECT_EQ(FailurePercent({3, 2}), "66.6%");
  EXPECT_EQ(FailurePercent({0, 0}), "0%");
}

TEST(FailureThreshold, PoolAtTwentyPercentContinuesAtOneOfFiveAndStopsAtTwoOfFive) {
  Driver d(OnePool(Threshold(20), 10));
  EXPECT_THAT(d.Step(), ElementsAre("c1"));
  // 1 of 1 failed: tolerated (a threshold above 0% tolerates one failure).
  EXPECT_THAT(d.FinishRunning(false), ElementsAre("c2"));
  EXPECT_EQ(d.state(), RunState::kRunning);
  d.FinishRunning(true);
  d.FinishRunning(true);
  d.FinishRunning(true);
  EXPECT_THAT(d.FinishRunning(true), ElementsAre("c6"));  // 1 of 5 = 20%: continues
  EXPECT_EQ(d.state(), RunState::kRunning);
  d.Finish("c6", false);  // 2 of 6 = 33.3%: over
  EXPECT_EQ(d.state(), RunState::kFailed);
  EXPECT_EQ(d.reason(),
            "pool chat: 2 of 6 attempted hosts failed (33.3%), over the 20% failure "
            "threshold");
  EXPECT_THAT(d.Step(), IsEmpty());
  EXPECT_TRUE(d.last().done);
  EXPECT_EQ(d.Host("c7").phase, HostPhase::kWaiting);
}

TEST(FailureThreshold, TwoOfTenAtTwentyPercentContinuesTwoOfNineStops) {
  // Exactly at the edge: 8 successes then 2 failures = 2 of 10 = 20%.
  Driver at(OnePool(Threshold(20), 12));
  at.Step();
  for (int i = 0; i < 8; ++i) at.FinishRunning(true);
  at.FinishRunning(false);
  at.FinishRunning(false);
  EXPECT_EQ(at.state(), RunState::kRunning);
  // One over: 7 successes then 2 failures = 2 of 9 = 22.2%.
  Driver over(OnePool(Threshold(20), 12));
  over.Step();
  for (int i = 0; i < 7; ++i) over.FinishRunning(true);
  over.FinishRunning(false);
  EXPECT_EQ(over.state(), RunState::kRunning);
  over.FinishRunning(false);
  EXPECT_EQ(over.state(), RunState::kFailed);
  EXPECT_EQ(over.reason(),
            "pool chat: 2 of 9 attempted hosts failed (22.2%), over the 20% "
            "failure threshold");
}

TEST(FailureThreshold, ZeroPercentStopsAtTheFirstFailure) {
  Driver d(OnePool(Threshold(0, 3), 6));
  EXPECT_THAT(d.Step(), ElementsAre("c1", "c2", "c3"));
  d.Finish("c1", true);
  d.Finish("c2", false);
  EXPECT_EQ(d.state(), RunState::kFailed);
  EXPECT_EQ(d.reason(),
            "pool chat: 1 of 2 attempted hosts failed (50%), and the failure "
            "threshold is 0% (no failure tolerated)");
  EXPECT_THAT(d.Step(), IsEmpty());
  EXPECT_FALSE(d.last().done);  // c3 still running: it finishes
  d.Finish("c3", true);         // a result after the stop is still recorded
  EXPECT_EQ(d.Host("c3").phase, HostPhase::kSucceeded);
  d.Step();
  EXPECT_TRUE(d.last().done);
  EXPECT_EQ(d.state(), RunState::kFailed);
  EXPECT_THAT(d.reason(), HasSubstr("1 of 2"));  // the first reason stays
}

TEST(FailureThreshold, HundredPercentNeverStops) {
  Driver d(OnePool(Threshold(100, 2), 4));
  d.Step();
  d.FinishRunning(false);
  d.FinishRunning(false);
  EXPECT_TRUE(d.last().done);
  EXPECT_EQ(d.state(), RunState::kFailed);
  EXPECT_EQ(d.reason(), "finished with 4 failed hosts (c1, c2, c3, c4); 0 hosts deployed");
}

TEST(FailureThreshold, RolloutWideCountStopsScatteredFailures) {
  // Pool a: 1 of 2 failed, pool b: 1 of 1; each pool tolerates its single
  // failure, the rollout's 2 of 3 (66.6%) is over 20%.
  RolloutStrategy s = Threshold(20, 2);
  Result<RolloutProgress> p =
      NewRollout(s, {{"a", "b"}}, {{"a", Hosts("a", 3)}, {"b", Hosts("b", 3)}});
  ASSERT_TRUE(p.ok());
  Driver d(*p);
  EXPECT_THAT(d.Step(), ElementsAre("a1", "a2", "b1", "b2"));
  d.Finish("a1", true);
  d.Finish("a2", false);
  EXPECT_EQ(d.state(), RunState::kRunning);
  d.Finish("b1", false);
  EXPECT_EQ(d.state(), RunState::kFailed);
  EXPECT_EQ(d.reason(),
            "rollout: 2 of 3 attempted hosts failed (66.6%), over the 20% failure "
            "threshold");
}

TEST(FailureThreshold, RolloutWideEdgeIsStrictlyOver) {
  // Stage 0: pools a and b, 1 failure of 5 each: rollout 2 of 10 = 20%,
  // continues. Stage 1: c1 fails: pool c 1 of 1 is tolerated, the rollout's
  // 3 of 11 = 27.2% is over.
  RolloutStrategy s = Threshold(20, 1);
  Result<RolloutProgress> p = NewRollout(
      s, {{"a", "b"}, {"c"}}, {{"a", Hosts("a", 5)}, {"b", Hosts("b", 5)}, {"c", Hosts("c", 3)}});
  ASSERT_TRUE(p.ok());
  Driver d(*p);
  EXPECT_THAT(d.Step(), ElementsAre("a1", "b1"));
  for (int i = 0; i < 4; ++i) d.FinishRunning(true);
  EXPECT_THAT(d.FinishRunning(false), ElementsAre("c1"));  // a5, b5 failed
  EXPECT_EQ(d.state(), RunState::kRunning);
  EXPECT_EQ(MainTally(d.progress()).attempted, 10);
  EXPECT_EQ(MainTally(d.progress()).failed, 2);
  d.Finish("c1", false);
  EXPECT_EQ(d.state(), RunState::kFailed);
  EXPECT_EQ(d.reason(),
            "rollout: 3 of 11 attempted hosts failed (27.2%), over the 20% failure "
            "threshold");
}

TEST(FailureThreshold, PoolRuleIsReportedBeforeTheRolloutRule) {
  Driver d(OnePool(Threshold(20, 2), 4));
  d.Step();
  d.FinishRunning(false);  // 2 of 2: both rules are broken; the pool is named
  EXPECT_EQ(d.reason(),
            "pool chat: 2 of 2 attempted hosts failed (100%), over the 20% failure "
            "threshold");
}

TEST(FailureThreshold, UnreachableHostsCountAsFailed) {
  RolloutStrategy s = Threshold(20, 1);
  s.offline_timeout = seconds(60);
  Driver d(OnePool(s, 10));
  d.Offline("c2");
  d.Offline("c3");
  EXPECT_THAT(d.Step(), ElementsAre("c1"));
  d.clock.Advance(seconds(60));
  d.FinishRunning(true);  // c2, c3 time out: 2 failed of 3 attempted
  EXPECT_EQ(d.Host("c2").phase, HostPhase::kFailed);
  EXPECT_EQ(d.state(), RunState::kFailed);
  EXPECT_THAT(d.reason(), HasSubstr("pool chat: 2 of 3 attempted hosts failed (66.6%)"));
  EXPECT_THAT(d.last().start, IsEmpty());
}

TEST(FailureThreshold, SkippedHostsAreNotAttempted) {
  RolloutStrategy s = Threshold(0, 1);
  s.skip_offline = true;
  s.offline_timeout = seconds(60);
  Driver d(OnePool(s, 3));
  d.Offline("c1");
  d.Step();
  d.clock.Advance(seconds(60));
  d.FinishRunning(true);
  EXPECT_EQ(d.Host("c1").phase, HostPhase::kSkipped);
  EXPECT_EQ(d.state(), RunState::kRunning);  // 0% threshold, yet no failure counted
  EXPECT_EQ(MainTally(d.progress()).attempted, 1);
}

RolloutStrategy Canary(int canary, int allowed) {
  RolloutStrategy s = Threshold(0, 1);
  s.canary = canary;
  s.canary_failures_allowed = allowed;
  return s;
}

TEST(CanaryRule, AnyCanaryFailureStopsByDefault) {
  Driver d(OnePool(Canary(2, 0), 5));
  EXPECT_THAT(d.Step(), ElementsAre("c1", "c2"));
  d.Finish("c1", false);
  EXPECT_EQ(d.state(), RunState::kFailed);
  EXPECT_EQ(d.reason(),
            "pool chat: 1 canary host failed (c1), more than the 0 allowed by "
            "--canary-failures-allowed");
  d.Finish("c2", true);
  EXPECT_THAT(d.Step(), IsEmpty());
  EXPECT_TRUE(d.last().done);
}

TEST(CanaryRule, AllowedNContinuesAndNPlusOneStops) {
  Driver n(OnePool(Canary(3, 1), 6));
  n.Step();
  n.Finish("c1", false);
  n.Finish("c2", true);
  n.Finish("c3", true);
  EXPECT_EQ(n.state(), RunState::kRunning);
  // Canary failures are not in the main budget: the 0% threshold is intact.
  EXPECT_THAT(n.Step(), ElementsAre("c4"));
  EXPECT_EQ(MainTally(n.progress()).failed, 0);

  Driver more(OnePool(Canary(3, 1), 6));
  more.Step();
  more.Finish("c1", false);
  EXPECT_EQ(more.state(), RunState::kRunning);
  more.Finish("c2", false);
  EXPECT_EQ(more.state(), RunState::kFailed);
  EXPECT_THAT(more.reason(), HasSubstr("2 canary hosts failed (c1, c2), more than the 1 allowed"));
  more.Finish("c3", true);
  EXPECT_THAT(more.Step(), IsEmpty());  // no main host ever starts
}

TEST(CanaryRule, CountsPerPool) {
  RolloutStrategy s = Canary(2, 1);
  s.failure_threshold_percent = 100;
  Result<RolloutProgress> p =
      NewRollout(s, {{"a", "b"}}, {{"a", Hosts("a", 3)}, {"b", Hosts("b", 3)}});
  ASSERT_TRUE(p.ok());
  Driver d(*p);
  d.Step();
  d.Finish("a1", false);
  d.Finish("b1", false);  // one each: within each pool's allowance
  EXPECT_EQ(d.state(), RunState::kRunning);
}

TEST(CanaryRule, UnreachableCanaryCountsAsACanaryFailure) {
  RolloutStrategy s = Canary(1, 0);
  s.offline_timeout = seconds(30);
  Driver d(OnePool(s, 3));
  d.Offline("c1");
  EXPECT_THAT(d.Step(), IsEmpty());  // the only canary is offline: main hosts wait
  d.clock.Advance(seconds(30));
  EXPECT_THAT(d.Step(), IsEmpty());
  EXPECT_EQ(d.state(), RunState::kFailed);
  EXPECT_THAT(d.reason(), HasSubstr("1 canary host failed (c1)"));
}

TEST(Completion, SucceedsOnlyWhenEveryHostSucceededOrWasSkipped) {
  Driver ok(OnePool(Threshold(50, 4), 4));
  ok.Step();
  ok.FinishRunning(true);
  EXPECT_TRUE(ok.last().done);
  EXPECT_EQ(ok.state(), RunState::kSucceeded);
  EXPECT_EQ(ok.reason(), "4 hosts deployed");

  Driver one_failed(OnePool(Threshold(50, 4), 4));
  one_failed.Step();
  one_failed.Finish("c1", true);
  one_failed.Finish("c2", true);
  one_failed.Finish("c3", false);  // 1 of 3: within 50%, never stopped
  one_failed.Finish("c4", true);
  one_failed.Step();
  EXPECT_TRUE(one_failed.last().done);
  EXPECT_EQ(one_failed.state(), RunState::kFailed);
  EXPECT_EQ(one_failed.reason(), "finished with 1 failed host (c3); 3 hosts deployed");
}

TEST(Completion, FinishingWhilePausedEndsThePause) {
  Driver d(OnePool(Threshold(0, 2), 2));
  d.Step();
  d.Apply(Pause(d.progress()));
  d.FinishRunning(true);
  EXPECT_TRUE(d.last().done);
  EXPECT_EQ(d.state(), RunState::kSucceeded);
}

}  // namespace
}  // namespace topos::rollout
