// What operators read while a rollout runs: per-pool counts and bars, event
// lines, the failure budget on the status page, and the exit code.
#include "controller/cli/rollout_view.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace topos::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::Rollout Sample() {
  v1::Rollout rollout;
  rollout.set_id("r-0123456789ab");
  rollout.set_state("running");
  rollout.mutable_strategy()->set_failure_threshold_percent(20);
  rollout.mutable_strategy()->set_max_unavailable("2");
  auto* fe = rollout.add_pools();
  fe->set_name("fe");
  fe->set_stage(0);
  for (const char* phase : {"succeeded", "succeeded"}) fe->add_hosts()->set_phase(phase);
  auto* chat = rollout.add_pools();
  chat->set_name("chat");
  chat->set_stage(1);
  const char* phases[] = {"succeeded", "failed", "running", "waiting", "waiting", "skipped"};
  int n = 0;
  for (const char* phase : phases) {
    auto* host = chat->add_hosts();
    host->set_host_fqdn("chat0" + std::to_string(++n) + ".example.test");
    host->set_phase(phase);
  }
  chat->mutable_hosts(1)->set_reason("install_service pchat: hook exited 1");
  chat->mutable_hosts(2)->set_current_step("install_service pchat");
  return rollout;
}

TEST(RolloutView, CountsEveryPhaseOfAPool) {
  PoolCounts counts = CountPool(Sample().pools(1));
  EXPECT_EQ(counts.succeeded, 1);
  EXPECT_EQ(counts.failed, 1);
  EXPECT_EQ(counts.running, 1);
  EXPECT_EQ(counts.waiting, 2);
  EXPECT_EQ(counts.skipped, 1);
  EXPECT_EQ(counts.total(), 6);
}

TEST(RolloutView, ProgressLinesShowStagesBarsAndTotals) {
  auto lines = ProgressLines(Sample(), 12);
  EXPECT_THAT(lines, ElementsAre(
      "stage 1  fe    [############]  2/2 done  0 running  0 failed  0 waiting",
      // 3 of 6 finished (succeeded, failed, skipped): half the bar.
      "stage 2  chat  [######------]  1/6 done  1 running  1 failed  2 waiting  1 skipped",
      "rollout r-0123456789ab running: 5 of 8 hosts finished"));
}

TEST(RolloutView, EventLinesCarryTimeHostKindAndMessage) {
  v1::RolloutEvent event;
  event.set_at_unix_ms(1'800'000'003'000);  // 2027-01-15T08:00:03Z
  event.set_host_fqdn("chat02.example.test");
  event.set_kind("host-failed");
  event.set_message("install_service pchat: hook exited 1");
  EXPECT_EQ(EventLine(event), "08:00:03  chat02.example.test  host-failed  install_service pchat: hook exited 1");
  event.set_host_fqdn("");
  event.set_kind("paused");
  event.set_message("");
  EXPECT_EQ(EventLine(event), "08:00:03  paused");
}

TEST(RolloutView, StepStartsAndSuccessesAreHiddenFailuresShown) {
  v1::RolloutEvent event;
  for (auto [kind, shown] : {std::pair{"step-started", false}, std::pair{"step-succeeded", false},
                             std::pair{"step-failed", true}, std::pair{"step-pending", true},
                             std::pair{"host-started", true}, std::pair{"stopped", true}}) {
    event.set_kind(kind);
    EXPECT_EQ(ShownByDefault(event), shown) << kind;
  }
}

TEST(RolloutView, StatusShowsTheFailureBudgetAndEveryHost) {
  std::string text = StatusText(Sample());
  EXPECT_THAT(text, HasSubstr("pool chat: 1 of 2 attempted main hosts failed (50%)"));
  EXPECT_THAT(text, HasSubstr("whole rollout: 1 of 4 attempted main hosts failed (25%)"));
  EXPECT_THAT(text, HasSubstr("chat02.example.test  failed  install_service pchat: hook exited 1"));
  EXPECT_THAT(text, HasSubstr("chat03.example.test  running  install_service pchat"));
  EXPECT_THAT(text, HasSubstr("--max-unavailable 2 --failure-threshold 20%"));
}

TEST(RolloutView, ExitCodeSaysHowItEnded) {
  v1::Rollout rollout = Sample();
  EXPECT_EQ(ExitCodeFor(rollout), kRolloutUnknown);  // not done
  rollout.set_done(true);
  for (auto [state, code] : {std::pair{"succeeded", kRolloutSucceeded}, std::pair{"failed", kRolloutFailed},
                             std::pair{"aborted", kRolloutAborted}}) {
    rollout.set_state(state);
    EXPECT_EQ(ExitCodeFor(rollout), code) << state;
  }
}

}  // namespace
}  // namespace topos::cli
