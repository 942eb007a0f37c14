#include "controller/rollout/failure_rules.h"

namespace topos::rollout {
namespace {

void Count(const PoolProgress& pool, FailureTally& tally) {
  for (const HostProgress& h : pool.hosts) {
    if (h.canary) continue;
    if (h.phase == HostPhase::kSucceeded) ++tally.attempted;
    if (h.phase == HostPhase::kFailed) {
      ++tally.attempted;
      ++tally.failed;
    }
  }
}

std::string ThresholdMessage(const std::string& scope, const FailureTally& tally, int threshold) {
  std::string text = scope + ": " + std::to_string(tally.failed) + " of " +
                     std::to_string(tally.attempted) + " attempted hosts failed (" +
                     FailurePercent(tally) + ")";
  if (threshold == 0) return text + ", and the failure threshold is 0% (no failure tolerated)";
  return text + ", over the " + std::to_string(threshold) + "% failure threshold";
}

}  // namespace

FailureTally MainTally(const PoolProgress& pool) {
  FailureTally tally;
  Count(pool, tally);
  return tally;
}

FailureTally MainTally(const RolloutProgress& progress) {
  FailureTally tally;
  for (const PoolProgress& pool : progress.pools) Count(pool, tally);
  return tally;
}

int CanaryFailures(const PoolProgress& pool) {
  int failed = 0;
  for (const HostProgress& h : pool.hosts) {
    if (h.canary && h.phase == HostPhase::kFailed) ++failed;
  }
  return failed;
}

bool OverThreshold(const FailureTally& tally, int threshold_percent) {
  if (tally.failed == 0) return false;
  if (threshold_percent == 0) return true;
  return tally.failed >= 2 && static_cast<long long>(tally.failed) * 100 >
                                  static_cast<long long>(threshold_percent) * tally.attempted;
}

std::string FailurePercent(const FailureTally& tally) {
  if (tally.attempted == 0) return "0%";
  const long long tenths = static_cast<long long>(tally.failed) * 1000 / tally.attempted;
  std::string text = std::to_string(tenths / 10);
  if (tenths % 10 != 0) text += "." + std::to_string(tenths % 10);
  return text + "%";
}

std::optional<std::string> BrokenFailureRule(const RolloutProgress& progress) {
  const RolloutStrategy& s = progress.strategy;
  for (const PoolProgress& pool : progress.pools) {
    const int failed = CanaryFailures(pool);
    if (failed > s.canary_failures_allowed) {
      std::string names;
      for (const HostProgress& h : pool.hosts) {
        if (!h.canary || h.phase != HostPhase::kFailed) continue;
        names += (names.empty() ? "" : ", ") + h.host;
      }
      return "pool " + pool.name + ": " + std::to_string(failed) +
             (failed == 1 ? " canary host failed (" : " canary hosts failed (") + names +
             "), more than the " + std::to_string(s.canary_failures_allowed) +
             " allowed by --canary-failures-allowed";
    }
  }
  for (const PoolProgress& pool : progress.pools) {
    const FailureTally tally = MainTally(pool);
    if (OverThreshold(tally, s.failure_threshold_percent)) {
      return ThresholdMessage("pool " + pool.name, tally, s.failure_threshold_percent);
    }
  }
  const FailureTally total = MainTally(progress);
  if (OverThreshold(total, s.failure_threshold_percent)) {
    return ThresholdMessage("rollout", total, s.failure_threshold_percent);
  }
  return std::nullopt;
}

}  // namespace topos::rollout
