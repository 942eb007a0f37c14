// The stored form of a rollout gives back exactly the engine's view, and a
// damaged record or bad flags are refused with the flag or field named.
#include "controller/rollout/rollout_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace topos::rollout {
namespace {

using ::testing::HasSubstr;

TEST(RolloutCodec, ProgressSurvivesTheStoredForm) {
  RolloutProgress progress;
  progress.strategy.canary = 2;
  progress.strategy.max_unavailable = {MaxUnavailable::Unit::kPercent, 10};
  progress.strategy.failure_threshold_percent = 20;
  progress.strategy.canary_failures_allowed = 1;
  progress.strategy.offline_timeout = std::chrono::seconds(90);
  progress.state = RunState::kPausedForCanary;
  progress.stop_reason = "";
  const TimePoint at = FromUnixMs(1'800'000'000'123);
  PoolProgress& pool = progress.pools.emplace_back();
  pool.name = "chat";
  pool.stage = 1;
  pool.canary_released = true;
  pool.hosts.push_back({"c1", HostPhase::kFailed, true, std::nullopt, at, "hook exited 1"});
  pool.hosts.push_back({"c2", HostPhase::kWaiting, false, at, at, ""});

  v1::Rollout stored;
  stored.set_id("r-1");
  WriteProgress(progress, stored);
  v1::Rollout parsed;
  ASSERT_TRUE(parsed.ParseFromString(stored.SerializeAsString()));
  auto back = ReadProgress(parsed);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->state, RunState::kPausedForCanary);
  EXPECT_EQ(back->strategy.max_unavailable, progress.strategy.max_unavailable);
  EXPECT_EQ(back->strategy.offline_timeout, std::chrono::seconds(90));
  EXPECT_EQ(back->strategy.canary_failures_allowed, 1);
  ASSERT_EQ(back->pools.size(), 1u);
  EXPECT_TRUE(back->pools[0].canary_released);
  EXPECT_EQ(back->pools[0].stage, 1);
  const HostProgress& c1 = back->pools[0].hosts[0];
  EXPECT_EQ(c1.phase, HostPhase::kFailed);
  EXPECT_TRUE(c1.canary);
  EXPECT_FALSE(c1.offline_since);
  EXPECT_EQ(c1.due_since, at);
  EXPECT_EQ(c1.reason, "hook exited 1");
  EXPECT_EQ(back->pools[0].hosts[1].offline_since, at);
}

TEST(RolloutCodec, WritingAgainKeepsWhatTheEngineDoesNotKnow) {
  RolloutProgress progress;
  HostProgress fe01;
  fe01.host = "fe01";
  fe01.phase = HostPhase::kRunning;
  progress.pools.push_back({"fe", 0, {fe01}, false});
  v1::Rollout stored;
  WriteProgress(progress, stored);
  stored.mutable_pools(0)->mutable_hosts(0)->set_current_step("install_service front");
  progress.pools[0].hosts[0].phase = HostPhase::kSucceeded;
  WriteProgress(progress, stored);
  EXPECT_EQ(stored.pools(0).hosts(0).phase(), "succeeded");
  EXPECT_EQ(stored.pools(0).hosts(0).current_step(), "install_service front");
}

TEST(RolloutCodec, DamagedRecordsAreRefusedNamingTheField) {
  v1::Rollout stored;
  stored.set_id("r-1");
  stored.set_state("exploded");
  auto state = ReadProgress(stored);
  EXPECT_EQ(state.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(state.status().message(), HasSubstr("unknown state \"exploded\""));

  stored.set_state("running");
  auto* host = stored.add_pools()->add_hosts();
  host->set_host_fqdn("h1");
  host->set_phase("sideways");
  auto phase = ReadProgress(stored);
  EXPECT_THAT(phase.status().message(), HasSubstr("host h1 has an unknown phase \"sideways\""));
}

TEST(RolloutCodec, StrategyDefaultsAndRefusals) {
  auto defaults = StrategyFromSpec(v1::RolloutStrategySpec());
  ASSERT_TRUE(defaults.ok()) << defaults.status().message();
  EXPECT_EQ(defaults->max_unavailable, (MaxUnavailable{MaxUnavailable::Unit::kHosts, 1}));
  EXPECT_EQ(defaults->offline_timeout, std::chrono::seconds(300));
  EXPECT_EQ(defaults->step_timeout, std::chrono::seconds(300));

  v1::RolloutStrategySpec spec;
  spec.set_max_unavailable("0");
  EXPECT_THAT(StrategyFromSpec(spec).status().message(), HasSubstr("--max-unavailable"));
  spec.set_max_unavailable("101%");
  EXPECT_EQ(StrategyFromSpec(spec).status().code(), Status::Code::kInvalidArgument);
  spec.set_max_unavailable("10%");
  spec.set_failure_threshold_percent(101);
  EXPECT_THAT(StrategyFromSpec(spec).status().message(), HasSubstr("--failure-threshold"));
  spec.set_failure_threshold_percent(20);
  spec.set_step_timeout_seconds(2 * 24 * 3600);
  EXPECT_THAT(StrategyFromSpec(spec).status().message(), HasSubstr("--step-timeout must be at most 24h"));
  spec.set_step_timeout_seconds(60);
  spec.set_canary_failures_allowed(1);  // without --canary
  EXPECT_EQ(StrategyFromSpec(spec).status().code(), Status::Code::kInvalidArgument);
  spec.set_canary(3);
  EXPECT_TRUE(StrategyFromSpec(spec).ok());
}

}  // namespace
}  // namespace topos::rollout
