// `toposctl certs requests|pending|approve|deny`: service certificate
// requests. (`certs list` and `certs revoke` are in certificate_inventory_commands.cc.)
#include <iostream>
#include <memory>

#include "common/text.h"
#include "controller/cli/commands.h"
#include "controller/cli/table.h"

namespace topos::cli {
namespace {

using Stub = topos::v1::AdminService::Stub;

int List(const ConnectionOptions& connection, bool pending_only, const std::string& output) {
  topos::v1::ListCertificateRequestsRequest request;
  request.set_pending_only(pending_only);
  topos::v1::ListCertificateRequestsResponse response;
  if (!CallAdmin(connection, &Stub::ListCertificateRequests, request, &response)) return 1;
  if (output == "json") {
    std::cout << ToJson(response) << "\n";
    return 0;
  }
  if (response.requests().empty()) {
    std::cout << (pending_only ? "No certificate request waits for approval.\n"
                               : "No service certificate has been requested.\n");
    return 0;
  }
  Table table({"ID", "HOST", "SERVICE", "STATE", "NAMES", "REQUESTED", "WHY / BY"});
  auto now = std::chrono::system_clock::now();
  for (const auto& info : response.requests()) {
    std::string names;
    for (const auto& name : info.names()) names += (names.empty() ? "" : ",") + name;
    table.Add({info.id(), info.host_fqdn(), info.service(), CertificateStateName(info.state()), names,
               FormatAgo(std::chrono::system_clock::time_point(std::chrono::seconds(info.requested_at_unix())), now),
               info.state() == topos::v1::CERTIFICATE_PENDING ? info.reason() : info.decided_by()});
  }
  table.Print(std::cout);
  return 0;
}

int Decide(const ConnectionOptions& connection, const std::string& id, bool approve,
           const std::string& reason) {
  topos::v1::DecideCertificateRequestRequest request;
  request.set_id(id);
  request.set_approve(approve);
  request.set_reason(reason);
  topos::v1::DecideCertificateResponse response;
  if (!CallAdmin(connection, &Stub::DecideCertificateRequest, request, &response)) return 1;
  const auto& info = response.request();
  if (approve) {
    std::cout << "Approved " << info.id() << ": certificate " << info.serial() << " issued for "
              << info.service() << " on " << info.host_fqdn()
              << ". The host picks it up on its next deploy.\n";
  } else {
    std::cout << "Denied " << info.id() << " (" << info.reason() << ").\n";
  }
  return 0;
}

}  // namespace

std::string CertificateStateName(topos::v1::CertificateRequestState state) {
  switch (state) {
    case topos::v1::CERTIFICATE_ISSUED:
      return "issued";
    case topos::v1::CERTIFICATE_PENDING:
      return "pending";
    case topos::v1::CERTIFICATE_DENIED:
      return "denied";
    default:
      return "unknown";
  }
}

void RegisterCertificateCommands(CLI::App& app, ConnectionOptions& connection, Action& action) {
  auto* certs = app.add_subcommand(
      "certs", "The fleet's certificates: inventory, revocation, service certificate requests");
  certs->require_subcommand(1);
  auto output = std::make_shared<std::string>("table");
  AddCertificateInventoryCommands(*certs, connection, action);

  auto* list = certs->add_subcommand("requests", "Every service certificate request and its state");
  list->add_option("--output", *output, "table or json")->check(CLI::IsMember({"table", "json"}));
  list->callback([&, output] { action = [&, output] { return List(connection, false, *output); }; });

  auto* pending = certs->add_subcommand(
      "pending", "Requests waiting for approval (names the topology does not grant the host)");
  pending->add_option("--output", *output, "table or json")->check(CLI::IsMember({"table", "json"}));
  pending->callback([&, output] { action = [&, output] { return List(connection, true, *output); }; });

  auto approve_id = std::make_shared<std::string>();
  auto* approve = certs->add_subcommand("approve", "Issue a pending certificate (needs ca-admin)");
  approve->add_option("ID", *approve_id, "Request id from `certs pending`")->required();
  approve->callback([&, approve_id] {
    action = [&, approve_id] { return Decide(connection, *approve_id, true, ""); };
  });

  auto deny_id = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  auto* deny = certs->add_subcommand("deny", "Refuse a pending certificate (needs ca-admin)");
  deny->add_option("ID", *deny_id, "Request id from `certs pending`")->required();
  deny->add_option("--reason", *reason, "Why; shown to the host's deploy");
  deny->callback([&, deny_id, reason] {
    action = [&, deny_id, reason] { return Decide(connection, *deny_id, false, *reason); };
  });
}

}  // namespace topos::cli
