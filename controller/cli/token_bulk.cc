#include "controller/cli/token_bulk.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <limits>

#include "common/text.h"
#include "controller/cli/commands.h"

namespace topos::cli {
namespace {

constexpr int kMaxPatternWidth = 18;

// `text` as a JSON string literal.
std::string JsonQuote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
          out += buffer;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// `text` followed by spaces up to `width`, then the two-space column gap.
std::string Cell(const std::string& text, std::size_t width) {
  return text + std::string(width > text.size() ? width - text.size() : 0, ' ') + "  ";
}

// Writes created tokens to `out` as they arrive, flushing each, so that a
// failure or an interrupt later loses nothing already created. Not
// thread-safe; one per command run.
class BulkPrinter {
 public:
  BulkPrinter(std::string format, std::size_t host_width, std::ostream& out)
      : format_(std::move(format)), host_width_(std::max<std::size_t>(host_width, 4)), out_(out) {}

  void Print(const std::string& host, const std::string& state_dir,
             const topos::v1::CreateTokenResponse& token) {
    if (format_ == "command") {
      out_ << EnrollCommand(token, host, state_dir) << "\n";
    } else if (format_ == "json") {
      out_ << (printed_ == 0 ? "[\n  " : ",\n  ") << "{\"host\": " << JsonQuote(host)
           << ", \"token\": " << JsonQuote(token.token())
           << ", \"token_id\": " << JsonQuote(token.token_id())
           << ", \"expires_at_unix\": " << token.expires_at_unix()
           << ", \"ca_sha256\": " << JsonQuote(token.ca_sha256())
           << ", \"controller_address\": " << JsonQuote(token.controller_address()) << "}";
    } else {
      if (printed_ == 0) {
        token_width_ = std::max<std::size_t>(token.token().size(), 5);
        out_ << Cell("HOST", host_width_) << Cell("TOKEN", token_width_) << "EXPIRES\n";
      }
      out_ << Cell(host, host_width_) << Cell(token.token(), token_width_)
           << FormatUnixTime(token.expires_at_unix()) << "\n";
    }
    ++printed_;
    out_.flush();
  }

  // Closes the JSON array; call once, after the last Print.
  void Finish() {
    if (format_ == "json" && printed_ > 0) out_ << "\n]\n";
    out_.flush();
  }

  std::size_t printed() const { return printed_; }

 private:
  const std::string format_;
  const std::size_t host_width_;
  std::ostream& out_;
  std::size_t token_width_ = 0;
  std::size_t printed_ = 0;
};

}  // namespace

Result<NumberPattern> ParseNumberPattern(std::string_view text, bool required) {
  NumberPattern pattern;
  std::size_t placeholders = 0;
  std::size_t begin = std::string_view::npos;
  std::size_t end = 0;
  for (std::size_t pos = text.find("{n"); pos != std::string_view::npos;
       pos = text.find("{n", pos + 1)) {
    std::size_t after = pos + 2;
    std::size_t close;
    int width = 0;
    if (after < text.size() && text[after] == '}') {
      close = after;
    } else if (after < text.size() && text[after] == ':') {
      close = text.find('}', after);
      std::string_view digits =
          text.substr(after + 1, close == std::string_view::npos ? close : close - after - 1);
      bool numeric = !digits.empty() && digits.size() <= 2 &&
                     std::all_of(digits.begin(), digits.end(),
                                 [](char c) { return c >= '0' && c <= '9'; });
      if (numeric) width = std::stoi(std::string(digits));
      if (close == std::string_view::npos || !numeric || width < 1 || width > kMaxPatternWidth) {
        return Status::InvalidArgument("\"" + std::string(text) + "\": in {n:W}, W must be a " +
                                       "width 1.." + std::to_string(kMaxPatternWidth) +
                                       " (e.g. {n:4} for 0001)");
      }
    } else {
      continue;  // "{nx": plain text
    }
    if (++placeholders > 1) {
      return Status::InvalidArgument("\"" + std::string(text) +
                                     "\" contains {n} more than once; it must appear exactly once");
    }
    begin = pos;
    end = close + 1;
    pattern.width = width;
  }
  if (placeholders == 0) {
    if (required) {
      return Status::InvalidArgument("\"" + std::string(text) +
                                     "\" has no {n}: put {n} where the number goes (or {n:4} "
                                     "for zero-padded numbers), e.g. 'sim-{n}.bench.test'");
    }
    pattern.prefix = std::string(text);
    return pattern;
  }
  pattern.has_placeholder = true;
  pattern.prefix = std::string(text.substr(0, begin));
  pattern.suffix = std::string(text.substr(end));
  return pattern;
}

std::string ExpandNumberPattern(const NumberPattern& pattern, std::uint64_t n) {
  if (!pattern.has_placeholder) return pattern.prefix;
  std::string number = std::to_string(n);
  if (number.size() < static_cast<std::size_t>(pattern.width)) {
    number.insert(0, pattern.width - number.size(), '0');
  }
  return pattern.prefix + number + pattern.suffix;
}

Result<std::vector<std::string>> ExpandHostPattern(std::string_view text, std::int64_t start,
                                                   std::int64_t count) {
  if (count < 1 || count > kMaxBulkTokens) {
    return Status::InvalidArgument("count must be 1.." + std::to_string(kMaxBulkTokens) +
                                   ", got " + std::to_string(count));
  }
  if (start < 0 || start > std::numeric_limits<std::int64_t>::max() - count) {
    return Status::InvalidArgument("start must be a number >= 0 (and start + count must fit), got " +
                                   std::to_string(start));
  }
  auto pattern = ParseNumberPattern(text, /*required=*/true);
  if (!pattern.ok()) return pattern.status();
  std::vector<std::string> hosts;
  hosts.reserve(static_cast<std::size_t>(count));
  for (std::int64_t n = start; n < start + count; ++n) {
    std::string host = ExpandNumberPattern(*pattern, static_cast<std::uint64_t>(n));
    if (Status s = CheckFqdn(host); !s.ok()) {
      return Status::InvalidArgument("\"" + std::string(text) + "\" gives a bad name for n=" +
                                     std::to_string(n) + ": " + s.message());
    }
    hosts.push_back(std::move(host));
  }
  return hosts;
}

std::string EnrollCommand(const topos::v1::CreateTokenResponse& token, const std::string& host,
                          const std::string& state_dir) {
  return "topos-agent enroll --controller " + token.controller_address() + " --token " +
         token.token() + " --ca-sha256 " + token.ca_sha256() + " --host " + host +
         " --state-dir " + state_dir;
}

int CreateTokensInBulk(const ConnectionOptions& connection, const BulkTokenArgs& args) {
  if (args.output != "table" && args.output != "json" && args.output != "command") {
    return Fail(Status::InvalidArgument("--output: with --count, use table, json or command (got " +
                                        args.output + ")"));
  }
  if (args.count < 1 || args.count > kMaxBulkTokens) {
    return Fail(Status::InvalidArgument("--count must be 1.." + std::to_string(kMaxBulkTokens) +
                                        ", got " + std::to_string(args.count) +
                                        "; nothing was created"));
  }
  if (args.start < 0) {
    return Fail(Status::InvalidArgument("--start must be >= 0, got " + std::to_string(args.start)));
  }
  auto hosts = ExpandHostPattern(args.host_pattern, args.start, args.count);
  if (!hosts.ok()) {
    return Fail(Status::InvalidArgument(hosts.status().message() + "; nothing was created")
                    .WithContext("--host-pattern"));
  }
  if (args.state_dir_pattern.empty()) {
    return Fail(Status::InvalidArgument("--state-dir-pattern must not be empty"));
  }
  auto state_dir = ParseNumberPattern(args.state_dir_pattern, /*required=*/false);
  if (!state_dir.ok()) return Fail(state_dir.status().WithContext("--state-dir-pattern"));
  auto ttl = ParseDuration(args.ttl);
  if (!ttl.ok()) return Fail(ttl.status().WithContext("--ttl"));

  auto client = AdminClient::Connect(connection);
  if (!client.ok()) return Fail(client.status());
  topos::v1::CreateTokenRequest request;
  request.set_ttl_seconds(static_cast<std::uint32_t>(
      std::min<std::int64_t>(ttl->count(), std::numeric_limits<std::uint32_t>::max())));

  std::size_t host_width = 0;
  for (const auto& host : *hosts) host_width = std::max(host_width, host.size());
  BulkPrinter printer(args.output, host_width, std::cout);
  topos::v1::CreateTokenResponse response;
  for (std::size_t i = 0; i < hosts->size(); ++i) {
    const std::string& host = (*hosts)[i];
    request.set_host_fqdn(host);
    response.Clear();
    auto context = client->NewContext();
    grpc::Status status = client->stub().CreateToken(context.get(), request, &response);
    if (!status.ok()) {
      printer.Finish();
      std::string created =
          i == 0 ? std::string("no token was created")
                 : "created " + std::to_string(i) + " of " + std::to_string(hosts->size()) +
                       " tokens (printed above; they are valid: enroll with them, or revoke "
                       "them with `toposctl token revoke ID`)";
      return Fail(client->Explain(status).WithContext(created + "; the token for " + host +
                                                      " failed"));
    }
    printer.Print(host, ExpandNumberPattern(*state_dir, static_cast<std::uint64_t>(args.start) + i),
                  response);
  }
  printer.Finish();
  if (args.output == "table") {
    std::cerr << printer.printed() << " single-use tokens created; they are shown only once. "
              << "On each host run:\n  topos-agent enroll --controller "
              << response.controller_address() << " --ca-sha256 " << response.ca_sha256()
              << " --token TOKEN --host HOST --state-dir DIR\n"
              << "(or create them with --output command to get each command ready to run).\n";
  }
  return 0;
}

}  // namespace topos::cli
