#include "controller/cli/rollout_flags.h"

#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "common/text.h"

namespace topos::cli {
namespace {

Result<std::uint32_t> Seconds(const std::string& text, const char* flag) {
  auto duration = ParseDuration(text);
  if (!duration.ok()) return duration.status().WithContext(flag);
  if (duration->count() < 1 || *duration > std::chrono::hours(24)) {
    return Status::InvalidArgument(std::string(flag) + " must be between 1s and 24h (got " + text + ")");
  }
  return static_cast<std::uint32_t>(duration->count());
}

bool Digits(std::string_view text, std::size_t at, std::size_t count, int* value) {
  if (at + count > text.size()) return false;
  int parsed = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
    parsed = parsed * 10 + (text[i] - '0');
  }
  *value = parsed;
  return true;
}

// "2026-11-27T02:00:00Z" or with an offset ("+01:00", "-05:30"); 't' and
// a space are accepted for 'T', 'z' for 'Z'.
Result<std::int64_t> ParseRfc3339(std::string_view text) {
  const Status bad = Status::InvalidArgument(
      "--effective-at \"" + std::string(text.substr(0, 64)) +
      "\" is not a time: use RFC 3339 like 2026-11-27T02:00:00Z, or a delay like +2h or +30m");
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(text, 0, 4, &year) || text.size() < 19 || text[4] != '-' ||
      !Digits(text, 5, 2, &month) || text[7] != '-' || !Digits(text, 8, 2, &day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !Digits(text, 11, 2, &hour) ||
      text[13] != ':' || !Digits(text, 14, 2, &minute) || text[16] != ':' ||
      !Digits(text, 17, 2, &second)) {
    return bad;
  }
  std::size_t at = 19;
  if (at < text.size() && text[at] == '.') {
    ++at;
    const std::size_t digits_start = at;
    while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) ++at;
    if (at == digits_start) return bad;
  }
  int offset_seconds = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int offset_hours = 0, offset_minutes = 0;
    if (!Digits(text, at + 1, 2, &offset_hours) || at + 3 >= text.size() || text[at + 3] != ':' ||
        !Digits(text, at + 4, 2, &offset_minutes) || offset_hours > 23 || offset_minutes > 59) {
      return bad;
    }
    offset_seconds = (offset_hours * 3600 + offset_minutes * 60) * (text[at] == '-' ? -1 : 1);
    at += 6;
  } else {
    return Status::InvalidArgument("--effective-at \"" + std::string(text.substr(0, 64)) +
                                   "\" has no time zone: end it with Z (UTC) or an offset like +01:00");
  }
  if (at != text.size()) return bad;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > kDays[month - 1] ||
      (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 60) {
    return bad;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<std::int64_t>(timegm(&tm)) - offset_seconds;
}

}  // namespace

void AddStrategyFlags(CLI::App* command, StrategyFlags& flags) {
  command->add_option("--canary", flags.canary,
                      "Hosts of each pool that go first, all at once (default 0)")
      ->check(CLI::Range(0, 1000000));
  command->add_flag("--pause-after-canary", flags.pause_after_canary,
                    "Wait for `rollout resume` once a stage's canaries are done");
  command->add_option("--max-unavailable", flags.max_unavailable,
                      "Hosts of a pool deployed at once after its canaries: a count (3) or a "
                      "percentage of the pool (10%, rounded down, at least 1). Default 1");
  command->add_option("--failure-threshold", flags.failure_threshold,
                      "Stop when more than this share of a pool's (or the rollout's) attempted "
                      "main hosts failed, and at least 2 did (0%: stop at the first failure). "
                      "Default 0%");
  command->add_option("--canary-failures-allowed", flags.canary_failures_allowed,
                      "Failed canaries a pool may have before the rollout stops (default 0)")
      ->check(CLI::Range(0, 1000000));
  command->add_option("--offline-timeout", flags.offline_timeout,
                      "How long an offline host is waited for before it counts as failed "
                      "(or skipped with --skip-offline), like 90s, 5m, 1h. Default 5m");
  command->add_flag("--skip-offline", flags.skip_offline,
                    "Skip hosts still offline after --offline-timeout instead of failing them");
  command->add_option("--step-timeout", flags.step_timeout,
                      "Longest a single step may run before it is cancelled on the agent. Default 5m");
}

Result<v1::RolloutStrategySpec> ToSpec(const StrategyFlags& flags) {
  v1::RolloutStrategySpec spec;
  spec.set_canary(static_cast<std::uint32_t>(flags.canary));
  spec.set_pause_after_canary(flags.pause_after_canary);
  spec.set_max_unavailable(flags.max_unavailable);
  std::string threshold = flags.failure_threshold;
  if (!threshold.empty() && threshold.back() == '%') threshold.pop_back();
  if (threshold.empty() || threshold.size() > 3 ||
      threshold.find_first_not_of("0123456789") != std::string::npos || std::stoi(threshold) > 100) {
    return Status::InvalidArgument("--failure-threshold must be a percentage from 0% to 100%, like 20% (got \"" +
                                   flags.failure_threshold + "\")");
  }
  spec.set_failure_threshold_percent(static_cast<std::uint32_t>(std::stoi(threshold)));
  spec.set_canary_failures_allowed(static_cast<std::uint32_t>(flags.canary_failures_allowed));
  auto offline = Seconds(flags.offline_timeout, "--offline-timeout");
  if (!offline.ok()) return offline.status();
  spec.set_offline_timeout_seconds(*offline);
  spec.set_skip_offline(flags.skip_offline);
  auto step = Seconds(flags.step_timeout, "--step-timeout");
  if (!step.ok()) return step.status();
  spec.set_step_timeout_seconds(*step);
  return spec;
}

Result<std::int64_t> ParseEffectiveAt(std::string_view text, std::int64_t now_unix) {
  if (!text.empty() && text.front() == '+') {
    auto delay = ParseDuration(text.substr(1));
    if (!delay.ok()) {
      return Status::InvalidArgument("--effective-at \"" + std::string(text.substr(0, 64)) +
                                     "\": " + delay.status().message());
    }
    return now_unix + delay->count();
  }
  return ParseRfc3339(text);
}

}  // namespace topos::cli
