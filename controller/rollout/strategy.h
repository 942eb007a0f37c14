// How a rollout spreads a change: the `toposctl rollout` flags as a value,
// their parsing, and the window size they give a pool. Pure: no I/O.
//
// Rules (the README quotes them):
//
//   --max-unavailable N|P%   How many hosts of a pool are deployed at the same
//       time after its canaries (a sliding window: a new host starts as soon
//       as one finishes). N is a host count, N >= 1. P% is a percentage of
//       the pool's hosts (canaries included), 1..100, rounded DOWN but never
//       below 1 host: 10% of 15 hosts = 1 (1.5 rounds down), 10% of 25 = 2,
//       10% of 5 = 1 (0.5 is raised to the minimum of 1), 100% of 7 = 7.
//       A count larger than the pool is the whole pool. Default: 1 host.
//   --failure-threshold P%   0..100 ("20" and "20%" both mean 20%). See
//       engine.h for how failures are counted. Default 0: no failure tolerated.
//   --canary N               The first N hosts of each pool go first, all at
//       once (not limited by --max-unavailable). Default 0.
//   --canary-failures-allowed N   Canary failures a pool may have before the
//       rollout stops; 0 (the default) stops at the first canary failure.
//   --pause-after-canary     Wait for `rollout resume` after the canaries.
//   --offline-timeout D      How long an offline host is waited for.
//   --skip-offline           An offline host that times out is skipped
//                            instead of failed.
//   --step-timeout D         Passed to each host's steps; a step that runs
//                            longer fails (enforced by the step runner, not
//                            by this module).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace topos::rollout {

// --max-unavailable: a host count or a percentage of the pool.
struct MaxUnavailable {
  enum class Unit { kHosts, kPercent };
  Unit unit = Unit::kHosts;
  int value = 1;  // kHosts: >= 1; kPercent: 1..100

  bool operator==(const MaxUnavailable&) const = default;
};

// Every knob of a rollout. Value type; validate with ValidateStrategy.
struct RolloutStrategy {
  int canary = 0;                             // canary hosts per pool, >= 0
  bool pause_after_canary = false;            // wait for Resume once a stage's canaries are done
  MaxUnavailable max_unavailable;             // window per pool after the canaries
  int failure_threshold_percent = 0;          // 0..100; 0 = no main-batch failure tolerated
  int canary_failures_allowed = 0;            // per pool, >= 0
  std::chrono::seconds offline_timeout{300};  // > 0
  bool skip_offline = false;                  // timed-out offline hosts are skipped, not failed
  std::chrono::seconds step_timeout{300};     // > 0; for the step runner
};

// Parses "3" (hosts) or "10%" (percent of the pool). Refuses 0, negatives,
// more than 100%, and anything else with InvalidArgument naming the flag and
// the accepted forms:
//   --max-unavailable: "0" is not allowed (use a host count >= 1, like 2, or a
//   percentage of the pool from 1% to 100%, like 25%)
Result<MaxUnavailable> ParseMaxUnavailable(std::string_view text);

// Parses a percentage 0..100 written "20" or "20%". `flag` (for example
// "--failure-threshold") names it in the InvalidArgument error.
Result<int> ParsePercent(std::string_view text, std::string_view flag);

// "3 hosts", "1 host", "10%": the flag as a person reads it.
std::string Describe(const MaxUnavailable& max_unavailable);

// The sliding-window size for a pool of `pool_size` hosts (see the rule at
// the top): counts are capped at the pool size; percentages round down with
// a floor of 1. Returns 0 only for an empty pool.
int WindowSize(const MaxUnavailable& max_unavailable, int pool_size);

// Checks a strategy built in code (the parsers already check text). Errors
// (InvalidArgument) name the flag: a negative --canary, a
// --canary-failures-allowed that is negative, set without --canary, or not
// below --canary (every canary could fail); --pause-after-canary without
// --canary; a threshold outside 0..100; a bad --max-unavailable; a timeout
// that is not positive.
Status ValidateStrategy(const RolloutStrategy& strategy);

}  // namespace topos::rollout
