// The failure rules of a rollout (engine.h rules 5 and 6) as plain
// functions, so that status output can show how much budget is left with
// the same arithmetic the engine stops on. Pure: no I/O.
#pragma once

#include <optional>
#include <string>

#include "controller/rollout/progress.h"

namespace topos::rollout {

// Main-host outcomes so far. attempted = succeeded + failed.
struct FailureTally {
  int attempted = 0;
  int failed = 0;
};

// The main (non-canary) hosts of `pool`.
FailureTally MainTally(const PoolProgress& pool);
// The main hosts of every pool.
FailureTally MainTally(const RolloutProgress& progress);
// Failed canary hosts of `pool`.
int CanaryFailures(const PoolProgress& pool);

// Rule 5: true when `tally` must stop the rollout under `threshold_percent`:
// failed x 100 > threshold x attempted, and failed >= 2 unless the
// threshold is 0.
bool OverThreshold(const FailureTally& tally, int threshold_percent);

// "40%", "22.2%" (rounded down to a tenth): failed / attempted for people.
std::string FailurePercent(const FailureTally& tally);

// The first broken rule, as the message stop_reason carries, or nullopt.
// Checked in this order: each pool's canary rule, each pool's threshold (in
// stage order), then the whole rollout's threshold. Examples:
//   pool chat: 2 canary hosts failed (c1.example, c2.example), more than the
//     1 allowed by --canary-failures-allowed
//   pool chat: 2 of 5 attempted hosts failed (40%), over the 20% failure threshold
//   rollout: 3 of 6 attempted hosts failed (50%), over the 20% failure threshold
//   pool chat: 1 of 1 attempted hosts failed (100%), and the failure
//     threshold is 0% (no failure tolerated)
std::optional<std::string> BrokenFailureRule(const RolloutProgress& progress);

}  // namespace topos::rollout
