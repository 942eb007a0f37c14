// Conversions between the engine's plain values (progress.h, strategy.h) and
// their protobuf form (topos.v1.Rollout), which is both what the controller
// stores and what operators are shown. Pure: no I/O.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "common/status.h"
#include "controller/rollout/progress.h"
#include "topos/v1/rollout.pb.h"

namespace topos::rollout {

// The flags as sent by toposctl, checked (ValidateStrategy) with defaults
// filled in: empty max_unavailable is 1 host, zero timeouts are 300 s.
// InvalidArgument names the flag. Timeouts are capped at 24 hours.
Result<RolloutStrategy> StrategyFromSpec(const v1::RolloutStrategySpec& spec);
v1::RolloutStrategySpec SpecFromStrategy(const RolloutStrategy& strategy);

// Writes the engine's view (state, stop reason, pools, host phases, offline
// and due times, reasons) into `rollout`, keeping what the engine does not
// know (ids, services before, current steps, timestamps). The pools and
// hosts of `rollout` must match `progress` in order, or be empty (then they
// are created). Appends to `changed_hosts` (when given) the (pool, position)
// of every host whose entry it changed.
void WriteProgress(const RolloutProgress& progress, v1::Rollout& rollout,
                   std::vector<std::pair<int, int>>* changed_hosts = nullptr);

// A rollout with an effective time (certificate rollouts, --effective-at)
// that has not come yet shows this state where it would show "running": no
// host starts before then. The engine knows no such state: ReadProgress
// reads it as running, and ShowSchedule puts it back after WriteProgress.
inline constexpr char kScheduledState[] = "scheduled";

// True while `rollout` has an effective time after `now`.
bool BeforeEffectiveTime(const v1::Rollout& rollout, TimePoint now);
// Sets the state "scheduled" when it is "running" and BeforeEffectiveTime.
void ShowSchedule(v1::Rollout& rollout, TimePoint now);

// The engine's view of a stored rollout ("scheduled" reads as running).
// InvalidArgument for an unknown state or phase name or a bad strategy (a
// damaged record).
Result<RolloutProgress> ReadProgress(const v1::Rollout& rollout);

std::int64_t ToUnixMs(TimePoint at);
TimePoint FromUnixMs(std::int64_t unix_ms);

}  // namespace topos::rollout
