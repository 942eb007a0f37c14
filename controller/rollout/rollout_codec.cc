#include "controller/rollout/rollout_codec.h"

#include <string>

namespace topos::rollout {
namespace {

constexpr std::uint32_t kDefaultTimeoutSeconds = 300;
constexpr std::uint32_t kMaxTimeoutSeconds = 24 * 3600;

constexpr HostPhase kPhases[] = {HostPhase::kWaiting, HostPhase::kRunning, HostPhase::kSucceeded,
                                 HostPhase::kFailed, HostPhase::kSkipped};
constexpr RunState kStates[] = {RunState::kRunning, RunState::kPausedForCanary, RunState::kPaused,
                                RunState::kAborted, RunState::kFailed,          RunState::kSucceeded};

Result<std::chrono::seconds> Timeout(std::uint32_t seconds, const char* flag) {
  if (seconds == 0) return std::chrono::seconds(kDefaultTimeoutSeconds);
  if (seconds > kMaxTimeoutSeconds) {
    return Status::InvalidArgument(std::string(flag) + " must be at most 24h (got " +
                                   std::to_string(seconds) + " s)");
  }
  return std::chrono::seconds(seconds);
}

std::optional<TimePoint> OptionalTime(std::int64_t unix_ms) {
  if (unix_ms == 0) return std::nullopt;
  return FromUnixMs(unix_ms);
}

}  // namespace

std::int64_t ToUnixMs(TimePoint at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

TimePoint FromUnixMs(std::int64_t unix_ms) {
  return TimePoint(std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(unix_ms)));
}

bool BeforeEffectiveTime(const v1::Rollout& rollout, TimePoint now) {
  return rollout.effective_at_unix_ms() > ToUnixMs(now);
}

void ShowSchedule(v1::Rollout& rollout, TimePoint now) {
  if (rollout.state() == RunStateName(RunState::kRunning) && BeforeEffectiveTime(rollout, now)) {
    rollout.set_state(kScheduledState);
  }
}

Result<RolloutStrategy> StrategyFromSpec(const v1::RolloutStrategySpec& spec) {
  RolloutStrategy strategy;
  // Proto fields are unsigned; anything past int range is nonsense anyway.
  constexpr std::uint32_t kMaxCount = 1'000'000;
  if (spec.canary() > kMaxCount || spec.canary_failures_allowed() > kMaxCount) {
    return Status::InvalidArgument("--canary and --canary-failures-allowed must be at most " +
                                   std::to_string(kMaxCount));
  }
  strategy.canary = static_cast<int>(spec.canary());
  strategy.pause_after_canary = spec.pause_after_canary();
  if (!spec.max_unavailable().empty()) {
    auto parsed = ParseMaxUnavailable(spec.max_unavailable());
    if (!parsed.ok()) return parsed.status();
    strategy.max_unavailable = *parsed;
  }
  if (spec.failure_threshold_percent() > 100) {
    return Status::InvalidArgument("--failure-threshold must be from 0% to 100% (got " +
                                   std::to_string(spec.failure_threshold_percent()) + "%)");
  }
  strategy.failure_threshold_percent = static_cast<int>(spec.failure_threshold_percent());
  strategy.canary_failures_allowed = static_cast<int>(spec.canary_failures_allowed());
  auto offline = Timeout(spec.offline_timeout_seconds(), "--offline-timeout");
  if (!offline.ok()) return offline.status();
  strategy.offline_timeout = *offline;
  strategy.skip_offline = spec.skip_offline();
  auto step = Timeout(spec.step_timeout_seconds(), "--step-timeout");
  if (!step.ok()) return step.status();
  strategy.step_timeout = *step;
  TOPOS_RETURN_IF_ERROR(ValidateStrategy(strategy));
  return strategy;
}

v1::RolloutStrategySpec SpecFromStrategy(const RolloutStrategy& strategy) {
  v1::RolloutStrategySpec spec;
  spec.set_canary(static_cast<std::uint32_t>(strategy.canary));
  spec.set_pause_after_canary(strategy.pause_after_canary);
  const auto& window = strategy.max_unavailable;
  spec.set_max_unavailable(std::to_string(window.value) +
                           (window.unit == MaxUnavailable::Unit::kPercent ? "%" : ""));
  spec.set_failure_threshold_percent(static_cast<std::uint32_t>(strategy.failure_threshold_percent));
  spec.set_canary_failures_allowed(static_cast<std::uint32_t>(strategy.canary_failures_allowed));
  spec.set_offline_timeout_seconds(static_cast<std::uint32_t>(strategy.offline_timeout.count()));
  spec.set_skip_offline(strategy.skip_offline);
  spec.set_step_timeout_seconds(static_cast<std::uint32_t>(strategy.step_timeout.count()));
  return spec;
}

void WriteProgress(const RolloutProgress& progress, v1::Rollout& rollout,
                   std::vector<std::pair<int, int>>* changed_hosts) {
  rollout.set_state(std::string(RunStateName(progress.state)));
  rollout.set_stop_reason(progress.stop_reason);
  *rollout.mutable_strategy() = SpecFromStrategy(progress.strategy);
  const bool create = rollout.pools_size() == 0;
  for (std::size_t p = 0; p < progress.pools.size(); ++p) {
    const PoolProgress& pool = progress.pools[p];
    v1::RolloutPool* out = create ? rollout.add_pools() : rollout.mutable_pools(static_cast<int>(p));
    out->set_name(pool.name);
    out->set_stage(static_cast<std::uint32_t>(pool.stage));
    out->set_canary_released(pool.canary_released);
    for (std::size_t h = 0; h < pool.hosts.size(); ++h) {
      const HostProgress& host = pool.hosts[h];
      v1::RolloutHost* host_out =
          create ? out->add_hosts() : out->mutable_hosts(static_cast<int>(h));
      const std::string_view phase = HostPhaseName(host.phase);
      const std::int64_t offline_since = host.offline_since ? ToUnixMs(*host.offline_since) : 0;
      const std::int64_t due_since = host.due_since ? ToUnixMs(*host.due_since) : 0;
      // Compared first: most hosts do not change in a round, and the caller
      // stores only those that did.
      if (host_out->host_fqdn() == host.host && host_out->phase() == phase &&
          host_out->canary() == host.canary &&
          host_out->offline_since_unix_ms() == offline_since &&
          host_out->due_since_unix_ms() == due_since && host_out->reason() == host.reason) {
        continue;
      }
      host_out->set_host_fqdn(host.host);
      host_out->set_phase(std::string(phase));
      host_out->set_canary(host.canary);
      host_out->set_offline_since_unix_ms(offline_since);
      host_out->set_due_since_unix_ms(due_since);
      host_out->set_reason(host.reason);
      if (changed_hosts != nullptr) {
        changed_hosts->emplace_back(static_cast<int>(p), static_cast<int>(h));
      }
    }
  }
}

Result<RolloutProgress> ReadProgress(const v1::Rollout& rollout) {
  RolloutProgress progress;
  auto strategy = StrategyFromSpec(rollout.strategy());
  if (!strategy.ok()) {
    return Status::InvalidArgument("rollout " + rollout.id() + " has an unusable strategy: " +
                                   strategy.status().message());
  }
  progress.strategy = *strategy;
  bool known_state = rollout.state() == kScheduledState;  // running, not yet effective
  for (RunState state : kStates) {
    if (RunStateName(state) == rollout.state()) {
      progress.state = state;
      known_state = true;
    }
  }
  if (!known_state) {
    return Status::InvalidArgument("rollout " + rollout.id() + " has an unknown state \"" +
                                   rollout.state() + "\"");
  }
  progress.stop_reason = rollout.stop_reason();
  for (const auto& pool : rollout.pools()) {
    PoolProgress& out = progress.pools.emplace_back();
    out.name = pool.name();
    out.stage = static_cast<int>(pool.stage());
    out.canary_released = pool.canary_released();
    for (const auto& host : pool.hosts()) {
      HostProgress& host_out = out.hosts.emplace_back();
      host_out.host = host.host_fqdn();
      bool known_phase = false;
      for (HostPhase phase : kPhases) {
        if (HostPhaseName(phase) == host.phase()) {
          host_out.phase = phase;
          known_phase = true;
        }
      }
      if (!known_phase) {
        return Status::InvalidArgument("rollout " + rollout.id() + ": host " + host.host_fqdn() +
                                       " has an unknown phase \"" + host.phase() + "\"");
      }
      host_out.canary = host.canary();
      host_out.offline_since = OptionalTime(host.offline_since_unix_ms());
      host_out.due_since = OptionalTime(host.due_since_unix_ms());
      host_out.reason = host.reason();
    }
  }
  return progress;
}

}  // namespace topos::rollout
