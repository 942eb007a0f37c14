#include "controller/rollout/strategy.h"

#include <algorithm>
#include <charconv>
#include <optional>

namespace topos::rollout {
namespace {

constexpr std::string_view kMaxUnavailableForms =
    "use a host count >= 1, like 2, or a percentage of the pool from 1% to 100%, like 25%";

// A whole decimal number, optionally negative, nothing else; nullopt for
// anything else (empty, spaces, fractions, overflow).
std::optional<long long> ParseInteger(std::string_view text) {
  if (text.empty()) return std::nullopt;
  long long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::string Quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

}  // namespace

Result<MaxUnavailable> ParseMaxUnavailable(std::string_view text) {
  const std::string prefix = "--max-unavailable: " + Quoted(text);
  const bool percent = !text.empty() && text.back() == '%';
  std::string_view number = percent ? text.substr(0, text.size() - 1) : text;
  std::optional<long long> value = ParseInteger(number);
  if (!value) {
    return Status::InvalidArgument(prefix + " is not a number (" +
                                   std::string(kMaxUnavailableForms) + ")");
  }
  if (*value < 1 || (percent && *value > 100)) {
    return Status::InvalidArgument(prefix + " is not allowed (" +
                                   std::string(kMaxUnavailableForms) + ")");
  }
  if (!percent && *value > 1'000'000) {
    return Status::InvalidArgument(prefix + " is too large (" + std::string(kMaxUnavailableForms) +
                                   ")");
  }
  MaxUnavailable result;
  result.unit = percent ? MaxUnavailable::Unit::kPercent : MaxUnavailable::Unit::kHosts;
  result.value = static_cast<int>(*value);
  return result;
}

Result<int> ParsePercent(std::string_view text, std::string_view flag) {
  std::string_view number = text;
  if (!number.empty() && number.back() == '%') number.remove_suffix(1);
  std::optional<long long> value = ParseInteger(number);
  if (!value || *value < 0 || *value > 100) {
    return Status::InvalidArgument(std::string(flag) + ": " + Quoted(text) +
                                   " is not a percentage (use a whole number from 0 to 100, like "
                                   "20 or 20%)");
  }
  return static_cast<int>(*value);
}

std::string Describe(const MaxUnavailable& max_unavailable) {
  if (max_unavailable.unit == MaxUnavailable::Unit::kPercent) {
    return std::to_string(max_unavailable.value) + "%";
  }
  return std::to_string(max_unavailable.value) + (max_unavailable.value == 1 ? " host" : " hosts");
}

int WindowSize(const MaxUnavailable& max_unavailable, int pool_size) {
  if (pool_size <= 0) return 0;
  int window = max_unavailable.value;
  if (max_unavailable.unit == MaxUnavailable::Unit::kPercent) {
    window = static_cast<int>(static_cast<long long>(pool_size) * max_unavailable.value / 100);
  }
  return std::clamp(window, 1, pool_size);
}

Status ValidateStrategy(const RolloutStrategy& s) {
  if (s.canary < 0) {
    return Status::InvalidArgument("--canary: " + std::to_string(s.canary) +
                                   " is negative (use 0 for no canary, or a host count)");
  }
  if (s.canary_failures_allowed < 0) {
    return Status::InvalidArgument(
        "--canary-failures-allowed: " + std::to_string(s.canary_failures_allowed) +
        " is negative (use 0 to stop at the first canary failure)");
  }
  if (s.canary_failures_allowed > 0 && s.canary == 0) {
    return Status::InvalidArgument(
        "--canary-failures-allowed has no effect without --canary (add --canary N)");
  }
  if (s.canary > 0 && s.canary_failures_allowed >= s.canary) {
    return Status::InvalidArgument(
        "--canary-failures-allowed " + std::to_string(s.canary_failures_allowed) +
        " with --canary " + std::to_string(s.canary) +
        " lets every canary fail (allow fewer failures than there are canaries)");
  }
  if (s.pause_after_canary && s.canary == 0) {
    return Status::InvalidArgument("--pause-after-canary needs canary hosts (add --canary N)");
  }
  if (s.failure_threshold_percent < 0 || s.failure_threshold_percent > 100) {
    return Status::InvalidArgument(
        "--failure-threshold: " + std::to_string(s.failure_threshold_percent) +
        "% is outside 0% to 100%");
  }
  const MaxUnavailable& m = s.max_unavailable;
  if (m.value < 1 || (m.unit == MaxUnavailable::Unit::kPercent && m.value > 100)) {
    return Status::InvalidArgument("--max-unavailable: " + Describe(m) + " is not allowed (" +
                                   std::string(kMaxUnavailableForms) + ")");
  }
  if (s.offline_timeout.count() <= 0) {
    return Status::InvalidArgument("--offline-timeout must be positive (like 5m)");
  }
  if (s.step_timeout.count() <= 0) {
    return Status::InvalidArgument("--step-timeout must be positive (like 5m)");
  }
  return Status::Ok();
}

}  // namespace topos::rollout
