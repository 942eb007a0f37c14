#include "common/text.h"

#include <ctime>

#include <cctype>
#include <charconv>

namespace topos {

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("empty duration (use e.g. 90s, 30m, 1h, 7d)");
  char unit = text.back();
  std::string_view digits = text.substr(0, text.size() - 1);
  long long value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || value <= 0 ||
      value > 100'000'000) {
    return Status::InvalidArgument("bad duration \"" + std::string(text) +
                                   "\" (use a positive number and a unit: 90s, 30m, 1h, 7d)");
  }
  switch (unit) {
    case 's': return std::chrono::seconds(value);
    case 'm': return std::chrono::seconds(value * 60);
    case 'h': return std::chrono::seconds(value * 3600);
    case 'd': return std::chrono::seconds(value * 86400);
    default:
      return Status::InvalidArgument("bad duration unit in \"" + std::string(text) +
                                     "\" (use s, m, h or d)");
  }
}

Status CheckFqdn(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("\"" + std::string(name.substr(0, 80)) +
                                   "\" is not a valid host name: " + why);
  };
  if (name.empty()) return bad("it is empty");
  if (name.size() > 253) return bad("it is longer than 253 characters");
  if (name.find('.') == std::string_view::npos) return bad("it needs at least two labels (host.domain)");
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    std::string_view label = name.substr(start, dot - start);
    if (label.empty()) return bad("it has an empty label");
    if (label.size() > 63) return bad("a label is longer than 63 characters");
    if (label.front() == '-' || label.back() == '-') return bad("a label starts or ends with '-'");
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return bad("only lowercase letters, digits, '-' and '.' are allowed");
    }
    start = dot + 1;
    if (dot == name.size()) break;
  }
  return Status::Ok();
}

namespace {
std::string Compact(long long seconds) {
  if (seconds < 60) return std::to_string(seconds) + "s";
  if (seconds < 3600) return std::to_string(seconds / 60) + "m";
  if (seconds < 86400) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}
}  // namespace

std::string FormatAgo(std::chrono::system_clock::time_point then,
                      std::chrono::system_clock::time_point now) {
  if (then.time_since_epoch().count() == 0) return "never";
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - then).count();
  if (seconds < 0) seconds = 0;
  return Compact(seconds) + " ago";
}

std::string FormatExpiry(std::chrono::system_clock::time_point at,
                         std::chrono::system_clock::time_point now) {
  if (at.time_since_epoch().count() == 0) return "-";
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(at - now).count();
  if (seconds < 0) return "expired " + Compact(-seconds) + " ago";
  return "in " + Compact(seconds);
}

Status CheckHostPort(std::string_view address, bool allow_port_zero) {
  std::size_t colon = address.rfind(':');
  if (address.empty() || colon == std::string_view::npos || colon == 0) {
    return Status::InvalidArgument("\"" + std::string(address) +
                                   "\" is not HOST:PORT (e.g. controller.example.test:7443)");
  }
  std::string_view port = address.substr(colon + 1);
  int value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < (allow_port_zero ? 0 : 1) ||
      value > 65535) {
    return Status::InvalidArgument("\"" + std::string(address) + "\" has no valid port (1-65535)");
  }
  return Status::Ok();
}

std::string FormatUtc(std::chrono::system_clock::time_point at) {
  std::time_t time = std::chrono::system_clock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&time, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string FormatUnixUtc(std::int64_t unix_seconds) {
  return FormatUtc(std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds)));
}

}  // namespace topos
