#include <iostream>

#include "common/text.h"
#include "controller/cli/commands.h"
#include "controller/cli/table.h"
#include "controller/cli/token_bulk.h"

namespace topos::cli {
namespace {

constexpr const char* kDefaultStateDir = "/var/lib/topos-agent";

// `token create` in either mode: --host (one token) or --count with
// --host-pattern (many). The *_given flags record which options were on the
// command line.
struct TokenCreateArgs {
  std::string host;
  std::string ttl = "1h";
  std::string state_dir = kDefaultStateDir;
  std::string output;  // empty: text for one token, table for many
  BulkTokenArgs bulk;
  bool host_given = false;
  bool count_given = false;
  bool pattern_given = false;
  bool start_given = false;
  bool state_dir_given = false;
  bool state_dir_pattern_given = false;
};

int CreateToken(const ConnectionOptions& connection, const TokenCreateArgs& args) {
  if (args.output == "table") {
    return Fail(Status::InvalidArgument(
        "--output table lists many tokens (with --count); for one token use text, json or "
        "command"));
  }
  if (auto s = CheckFqdn(args.host); !s.ok()) return Fail(s.WithContext("--host"));
  auto ttl = ParseDuration(args.ttl);
  if (!ttl.ok()) return Fail(ttl.status().WithContext("--ttl"));
  auto client = AdminClient::Connect(connection);
  if (!client.ok()) return Fail(client.status());
  topos::v1::CreateTokenRequest request;
  request.set_host_fqdn(args.host);
  request.set_ttl_seconds(static_cast<std::uint32_t>(ttl->count()));
  topos::v1::CreateTokenResponse response;
  auto context = client->NewContext();
  grpc::Status status = client->stub().CreateToken(context.get(), request, &response);
  if (!status.ok()) return Fail(client->Explain(status));

  std::string command = EnrollCommand(response, args.host, args.state_dir);
  if (args.output == "json") {
    std::cout << ToJson(response) << "\n";
    return 0;
  }
  if (args.output == "command") {
    std::cout << command << "\n";
    return 0;
  }
  std::cout << "Token " << response.token_id() << " for " << args.host << ", single use, expires "
            << FormatUnixTime(response.expires_at_unix()) << ".\n"
            << "It is shown only once. On " << args.host << ", run:\n\n  " << command << "\n\n"
            << "then `topos-agent run --state-dir " << args.state_dir
            << "` (or pass the same flags to `run` to do both).\n";
  return 0;
}

// Picks the mode from the flags given and rejects mixtures of the two.
int CreateTokens(const ConnectionOptions& connection, TokenCreateArgs args) {
  bool bulk = args.count_given || args.pattern_given;
  if (args.host_given && bulk) {
    return Fail(Status::InvalidArgument(
        "--host creates one token, --count with --host-pattern creates many: give one or the "
        "other, not both"));
  }
  if (!args.host_given && !bulk) {
    return Fail(Status::InvalidArgument(
        "which host? give --host FQDN for one token, or --count N --host-pattern "
        "'NAME-{n}.DOMAIN' for many"));
  }
  if (!bulk) {
    if (args.start_given || args.state_dir_pattern_given) {
      return Fail(Status::InvalidArgument(
          "--start and --state-dir-pattern go with --count and --host-pattern, not --host"));
    }
    if (args.output.empty()) args.output = "text";
    return CreateToken(connection, args);
  }
  if (!args.count_given) {
    return Fail(Status::InvalidArgument("--host-pattern needs --count N (how many tokens)"));
  }
  if (!args.pattern_given) {
    return Fail(Status::InvalidArgument(
        "--count needs --host-pattern, e.g. --host-pattern 'sim-{n}.bench.test'"));
  }
  if (args.state_dir_given && args.state_dir_pattern_given) {
    return Fail(Status::InvalidArgument(
        "give --state-dir (the same on every host) or --state-dir-pattern (with {n}), not both"));
  }
  if (args.output == "text") {
    return Fail(Status::InvalidArgument(
        "--output text describes one token; with --count use table, json or command"));
  }
  BulkTokenArgs bulk_args = args.bulk;
  bulk_args.ttl = args.ttl;
  bulk_args.output = args.output.empty() ? "table" : args.output;
  if (!args.state_dir_pattern_given) bulk_args.state_dir_pattern = args.state_dir;
  return CreateTokensInBulk(connection, bulk_args);
}

int ListTokens(const ConnectionOptions& connection, const std::string& output) {
  auto client = AdminClient::Connect(connection);
  if (!client.ok()) return Fail(client.status());
  topos::v1::ListTokensResponse response;
  auto context = client->NewContext();
  grpc::Status status = client->stub().ListTokens(context.get(), {}, &response);
  if (!status.ok()) return Fail(client->Explain(status));
  if (output == "json") {
    std::cout << ToJson(response) << "\n";
    return 0;
  }
  Table table({"ID", "HOST", "STATE", "EXPIRES", "CREATED BY"});
  for (const auto& token : response.tokens()) {
    table.Add({token.token_id(), token.host_fqdn(), token.state(),
               FormatUnixTime(token.expires_at_unix()), token.created_by()});
  }
  table.Print(std::cout);
  return 0;
}

int RevokeToken(const ConnectionOptions& connection, const std::string& id) {
  auto client = AdminClient::Connect(connection);
  if (!client.ok()) return Fail(client.status());
  topos::v1::RevokeTokenRequest request;
  request.set_token_id(id);
  topos::v1::RevokeTokenResponse response;
  auto context = client->NewContext();
  grpc::Status status = client->stub().RevokeToken(context.get(), request, &response);
  if (!status.ok()) return Fail(client->Explain(status));
  std::cout << "Token " << id << " revoked.\n";
  return 0;
}

}  // namespace

void RegisterTokenCommands(CLI::App& app, ConnectionOptions& connection, Action& action) {
  auto* token = app.add_subcommand("token", "Bootstrap tokens that let a host enroll once");
  token->require_subcommand(1);
  token->fallthrough();

  auto create_args = std::make_shared<TokenCreateArgs>();
  auto* create = token->add_subcommand(
      "create",
      "Create a single-use token for one host (--host) or for many (--count with "
      "--host-pattern) and print the enroll commands");
  auto* host = create->add_option("--host", create_args->host, "FQDN of the host that may enroll");
  auto* count = create->add_option(
      "--count", create_args->bulk.count,
      "Create this many tokens (1..100000), one per name from --host-pattern");
  auto* pattern = create->add_option(
      "--host-pattern", create_args->bulk.host_pattern,
      "Host names for --count: {n} (exactly once) becomes start..start+count-1, {n:4} pads it "
      "with zeros to 4 digits; e.g. 'sim-{n}.bench.test'");
  auto* start = create->add_option("--start", create_args->bulk.start,
                                   "First number for --host-pattern")
                    ->capture_default_str();
  create->add_option("--ttl", create_args->ttl, "How long each token is valid (60s..7d)")
      ->capture_default_str();
  auto* state_dir = create->add_option("--state-dir", create_args->state_dir,
                                       "Agent state directory to put in the printed command(s)")
                        ->capture_default_str();
  auto* state_dir_pattern = create->add_option(
      "--state-dir-pattern", create_args->bulk.state_dir_pattern,
      "With --count: a state directory per host, {n} as in --host-pattern (for many agents on "
      "one machine)");
  create->add_option("--output", create_args->output,
                     "One token: text (default), json, or command (the command only). Many: "
                     "table (HOST TOKEN EXPIRES, default), json (an array), or command (one "
                     "per line)")
      ->check(CLI::IsMember({"text", "table", "json", "command"}));
  create->callback([&, create_args, host, count, pattern, start, state_dir, state_dir_pattern] {
    create_args->host_given = host->count() > 0;
    create_args->count_given = count->count() > 0;
    create_args->pattern_given = pattern->count() > 0;
    create_args->start_given = start->count() > 0;
    create_args->state_dir_given = state_dir->count() > 0;
    create_args->state_dir_pattern_given = state_dir_pattern->count() > 0;
    action = [&, create_args] { return CreateTokens(connection, *create_args); };
  });

  auto list_output = std::make_shared<std::string>("table");
  auto* list = token->add_subcommand("list", "List tokens and their state");
  list->add_option("--output", *list_output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  list->callback([&, list_output] { action = [&, list_output] { return ListTokens(connection, *list_output); }; });

  auto revoke_id = std::make_shared<std::string>();
  auto* revoke = token->add_subcommand("revoke", "Revoke an unused token");
  revoke->add_option("ID", *revoke_id, "Token id (from `token list`)")->required();
  revoke->callback([&, revoke_id] { action = [&, revoke_id] { return RevokeToken(connection, *revoke_id); }; });
}

}  // namespace topos::cli
