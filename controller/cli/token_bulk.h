// `toposctl token create --count N --host-pattern PATTERN`: many single-use
// tokens in one run, for fleet benchmarks and mass enrollment. The proto has
// one CreateToken call per token; this mode makes N of them in sequence over
// one connection, each with its own deadline.
//
// Everything here is stateless and may be called from any thread; the
// command itself writes to std::cout/std::cerr and is meant for main().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "controller/cli/admin_client.h"
#include "topos/v1/admin.pb.h"

namespace topos::cli {

inline constexpr std::int64_t kMaxBulkTokens = 100000;

// A text with at most one number placeholder: `{n}` (the number as is) or
// `{n:W}` (zero-padded to at least W digits, W in 1..18). Text outside the
// placeholder is kept verbatim.
struct NumberPattern {
  std::string prefix;             // before the placeholder (the whole text if none)
  std::string suffix;             // after the placeholder
  int width = 0;                  // 0: no padding
  bool has_placeholder = false;
};

// Parses `text`. Errors (InvalidArgument, naming the problem): a placeholder
// appears more than once, `{n:W}` has a bad width, or `required` is set and
// there is no placeholder.
Result<NumberPattern> ParseNumberPattern(std::string_view text, bool required);

// The pattern with its placeholder replaced by `n` (padded to its width).
std::string ExpandNumberPattern(const NumberPattern& pattern, std::uint64_t n);

// The host names for numbers start .. start+count-1, in order. Fails with
// InvalidArgument (and returns no names) if the pattern is bad, count is
// outside 1..kMaxBulkTokens, start is negative or the numbers overflow, or
// any generated name is not a valid FQDN (CheckFqdn); the message names the
// first bad host.
Result<std::vector<std::string>> ExpandHostPattern(std::string_view pattern, std::int64_t start,
                                                   std::int64_t count);

// The one-line `topos-agent enroll ...` command for a created token, as
// `token create --output command` prints it.
std::string EnrollCommand(const topos::v1::CreateTokenResponse& token, const std::string& host,
                          const std::string& state_dir);

struct BulkTokenArgs {
  std::string host_pattern;       // must contain {n} (or {n:W}) exactly once
  std::int64_t count = 0;         // 1..kMaxBulkTokens
  std::int64_t start = 1;         // first number
  std::string ttl = "1h";         // per token
  std::string state_dir_pattern;  // for the printed commands; {n} optional
  std::string output = "table";   // table | json | command
};

// Validates every argument and every host name, then creates the tokens one
// by one and prints each as soon as it exists (table: HOST, TOKEN, EXPIRES;
// json: an array of {host, token, token_id, expires_at_unix, ca_sha256,
// controller_address}; command: one enroll command per line). A bad argument
// creates nothing. If a call fails midway, the tokens created so far have
// been printed (json stays a valid array) and the failure is reported on
// stderr. Returns the process exit code: 0 only if all N were created.
int CreateTokensInBulk(const ConnectionOptions& connection, const BulkTokenArgs& args);

}  // namespace topos::cli
