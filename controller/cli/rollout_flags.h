// The flags every rollout-starting command shares (`rollout start`,
// `rollout rollback`, `certs rollout`): the strategy flags of
// controller/rollout/strategy.h as typed, and --effective-at. Pure parsing,
// unit-tested without a controller.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "topos/v1/rollout.pb.h"

namespace topos::cli {

// The strategy flags as typed; checked into a spec by ToSpec.
struct StrategyFlags {
  int canary = 0;
  bool pause_after_canary = false;
  std::string max_unavailable = "1";
  std::string failure_threshold = "0%";
  int canary_failures_allowed = 0;
  std::string offline_timeout = "5m";
  bool skip_offline = false;
  std::string step_timeout = "5m";
};

// Adds --canary, --pause-after-canary, --max-unavailable,
// --failure-threshold, --canary-failures-allowed, --offline-timeout,
// --skip-offline and --step-timeout to `command`, bound to `flags`.
void AddStrategyFlags(CLI::App* command, StrategyFlags& flags);

// InvalidArgument naming the flag for a bad percentage or duration.
Result<v1::RolloutStrategySpec> ToSpec(const StrategyFlags& flags);

// --effective-at as unix seconds: RFC 3339 ("2026-11-27T02:00:00Z",
// "2026-11-27T03:00:00+01:00", fractions of a second ignored) or a duration
// from `now_unix` ("+2h", "+30m", "+90s", "+1d"). InvalidArgument with the
// accepted forms otherwise. The controller checks the range.
Result<std::int64_t> ParseEffectiveAt(std::string_view text, std::int64_t now_unix);

}  // namespace topos::cli
