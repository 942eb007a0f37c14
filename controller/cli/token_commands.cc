#include <iostream>

#include "common/text.h"
#include "controller/cli/commands.h"
#include "controller/cli/table.h"

namespace topos::cli {
namespace {

struct TokenCreateArgs {
  std::string host;
  std::string ttl = "1h";
  std::string state_dir = "/var/lib/topos-agent";
  std::string output = "text";
};

int CreateToken(const ConnectionOptions& connection, const TokenCreateArgs& args) {
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

  std::string command = "topos-agent enroll --controller " + response.controller_address() +
                        " --token " + response.token() + " --ca-sha256 " +
                        response.ca_sha256() + " --host " + args.host + " --state-dir " +
                        args.state_dir;
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
      "create", "Create a single-use token for one host and print its enroll command");
  create->add_option("--host", create_args->host, "FQDN of the host that may enroll")->required();
  create->add_option("--ttl", create_args->ttl, "How long the token is valid (60s..7d)")
      ->capture_default_str();
  create->add_option("--state-dir", create_args->state_dir,
                     "Agent state directory to put in the printed command")
      ->capture_default_str();
  create->add_option("--output", create_args->output, "text, json, or command (the command only)")
      ->check(CLI::IsMember({"text", "json", "command"}))
      ->capture_default_str();
  create->callback([&, create_args] { action = [&, create_args] { return CreateToken(connection, *create_args); }; });

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
