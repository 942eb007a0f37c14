// Parsing and formatting of the small text values operators type and read:
// durations ("90s", "30m", "1h", "7d"), host names, "3m ago".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace topos {

// Parses a positive duration: an integer followed by s, m, h or d.
Result<std::chrono::seconds> ParseDuration(std::string_view text);

// A fully qualified host name: 1..253 bytes, at least two labels, each label
// 1..63 of [a-z0-9-] not starting or ending with '-'. Lowercase only, so that
// one host has one spelling. Returns an error naming the problem.
Status CheckFqdn(std::string_view name);

// RFC 3339 in UTC, e.g. "2026-11-26T08:00:00Z".
std::string FormatUtc(std::chrono::system_clock::time_point at);
std::string FormatUnixUtc(std::int64_t unix_seconds);

// "12s ago", "5m ago", "3h ago", "2d ago"; "never" for a zero time.
std::string FormatAgo(std::chrono::system_clock::time_point then,
                      std::chrono::system_clock::time_point now);

// "in 6d 23h" / "expired 2h ago" for a future or past expiry.
std::string FormatExpiry(std::chrono::system_clock::time_point at,
                         std::chrono::system_clock::time_point now);

// Splits "host:port"; the port must be 1..65535. IPv6 as "[::1]:443".
// Port 0 (pick a free port) is accepted only with `allow_port_zero`.
Status CheckHostPort(std::string_view address, bool allow_port_zero = false);

}  // namespace topos
