// toposctl's command groups. Each Register* adds its subcommands to the app
// and returns; the chosen command runs after parsing and returns an exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

#include "controller/cli/admin_client.h"

namespace topos::cli {

// The command to run once parsing is done.
using Action = std::function<int()>;

void RegisterTokenCommands(CLI::App& app, ConnectionOptions& connection, Action& action);
void RegisterHostCommands(CLI::App& app, ConnectionOptions& connection, Action& action);
void RegisterTopologyCommands(CLI::App& app, ConnectionOptions& connection, Action& action);
// publish, show, history, diff: added under `topology`.
void RegisterTopologyAdminCommands(CLI::App& topology, ConnectionOptions& connection,
                                   Action& action);
// `config export|import` and `replication status|sync`.
void RegisterReplicationCommands(CLI::App& app, ConnectionOptions& connection, Action& action);
// `artifact push|list`.
void RegisterArtifactCommands(CLI::App& app, ConnectionOptions& connection, Action& action);

// `deploy --host FQDN [--dry-run]`.
void RegisterDeployCommands(CLI::App& app, ConnectionOptions& connection, Action& action);
// `rollout plan [--output table|json]`.
void RegisterRolloutCommands(CLI::App& app, ConnectionOptions& connection, Action& action);
// `certs list|revoke|crl|requests|pending|approve|deny`.
void RegisterCertificateCommands(CLI::App& app, ConnectionOptions& connection, Action& action);
// `certs list` (the inventory), `certs revoke` and `certs crl`, added under `certs`.
void AddCertificateInventoryCommands(CLI::App& certs, ConnectionOptions& connection, Action& action);
// `certs rollout`: renew service certificates in batches, added under `certs`.
void AddCertificateRolloutCommands(CLI::App& certs, ConnectionOptions& connection, Action& action);
// `ca rotate|status|pause|resume`.
void RegisterCaCommands(CLI::App& app, ConnectionOptions& connection, Action& action);
// "issued", "pending", "denied".
std::string CertificateStateName(topos::v1::CertificateRequestState state);

// Prints "toposctl: <message>" to stderr and returns 1.
int Fail(const Status& status);

// Makes one admin call (`method` is a Stub member such as
// &topos::v1::AdminService::Stub::ListHosts). On failure prints why and
// returns false.
template <typename Method, typename Request, typename Response>
bool CallAdmin(const ConnectionOptions& connection, Method method, const Request& request,
               Response* response) {
  auto client = AdminClient::Connect(connection);
  if (!client.ok()) {
    Fail(client.status());
    return false;
  }
  auto context = client->NewContext();
  grpc::Status status = (client->stub().*method)(context.get(), request, response);
  if (!status.ok()) {
    Fail(client->Explain(status));
    return false;
  }
  return true;
}
// Formats a unix time as 2026-11-25T10:00:00Z.
std::string FormatUnixTime(std::int64_t unix_seconds);
// Protobuf message as indented JSON with the proto field names.
std::string ToJson(const google::protobuf::Message& message);
// Shipped with the source tree; toposctl uses it when --roles is not given
// and it runs from the checkout.
inline constexpr const char* kDefaultRolesFile = "examples/pchat/roles.yaml";

}  // namespace topos::cli
