// `toposctl certs list [--expiring-within D] [--host FQDN] [--pool P]
// [--output json]` (every certificate of the fleet), `toposctl certs
// revoke SERIAL|--host FQDN [--reason R]` and `toposctl certs crl [--out
// FILE]` (the signed revocation list).
#include <iostream>
#include <memory>

#include "common/file_io.h"
#include "common/text.h"
#include "controller/cli/commands.h"
#include "controller/cli/table.h"

namespace topos::cli {
namespace {

struct ListOptions {
  std::string expiring_within;
  std::string host;
  std::string pool;
  std::string output = "table";
};

std::string Expiry(std::int64_t not_after_unix) {
  if (not_after_unix == 0) return "-";
  auto at = std::chrono::system_clock::time_point(std::chrono::seconds(not_after_unix));
  return FormatUnixTime(not_after_unix) + " (" + FormatExpiry(at, std::chrono::system_clock::now()) + ")";
}

int List(const ConnectionOptions& connection, const ListOptions& options) {
  v1::ListCertificatesRequest request;
  if (!options.expiring_within.empty()) {
    auto window = ParseDuration(options.expiring_within);
    if (!window.ok()) return Fail(window.status().WithContext("--expiring-within"));
    if (window->count() < 1) return Fail(Status::InvalidArgument("--expiring-within must be at least 1s"));
    request.set_expiring_within_seconds(window->count());
  }
  request.set_host_fqdn(options.host);
  request.set_pool(options.pool);
  v1::ListCertificatesResponse response;
  if (!CallAdmin(connection, &v1::AdminService::Stub::ListCertificates, request, &response)) return 1;
  if (options.output == "json") {
    std::cout << ToJson(response) << "\n";
    return 0;
  }
  if (response.certificates().empty()) {
    std::cout << "No certificate matches.\n";
    return 0;
  }
  Table table({"SERIAL", "SUBJECT", "PURPOSE", "HOST", "STATE", "NOT AFTER", "NAMES", "SHA-256"});
  for (const auto& item : response.certificates()) {
    std::string names;
    for (const auto& name : item.names()) names += (names.empty() ? "" : ",") + name;
    std::string state = item.state();
    if (!item.revoke_reason().empty() && (state == "revoked" || state == "denied")) {
      state += ": " + item.revoke_reason();
    }
    table.Add({item.serial().empty() ? "(request " + item.request_id() + ")" : item.serial(),
               item.subject(), item.purpose(), item.host_fqdn().empty() ? "-" : item.host_fqdn(),
               state, Expiry(item.not_after_unix()), names,
               item.sha256_fingerprint().substr(0, 16)});
  }
  table.Print(std::cout);
  return 0;
}

int Revoke(const ConnectionOptions& connection, const std::string& serial, const std::string& host,
           const std::string& reason) {
  v1::RevokeCertificateRequest request;
  request.set_serial(serial);
  request.set_host_fqdn(host);
  request.set_reason(reason);
  v1::RevokeCertificateResponse response;
  if (!CallAdmin(connection, &v1::AdminService::Stub::RevokeCertificate, request, &response)) return 1;
  if (response.revoked_serials().empty()) {
    std::cout << "Nothing to revoke: every certificate of " << host << " is already revoked.\n";
    return 0;
  }
  std::cout << "Revoked " << response.revoked_serials_size() << " certificate"
            << (response.revoked_serials_size() == 1 ? "" : "s") << ":";
  for (const auto& revoked : response.revoked_serials()) std::cout << " " << revoked;
  std::cout << "\n";
  if (response.stream_cut()) {
    std::cout << "The host's live connection was closed; its agent needs a new enrollment "
                 "(toposctl token create --host "
              << (host.empty() ? "FQDN" : host) << ").\n";
  }
  return 0;
}

// Prints the PEM, or writes it to `out` (0644: a CRL is public) and prints
// a one-line summary.
int Crl(const ConnectionOptions& connection, const std::string& out) {
  v1::GetCrlResponse response;
  if (!CallAdmin(connection, &v1::AdminService::Stub::GetCrl, v1::GetCrlRequest(), &response)) {
    return 1;
  }
  if (out.empty()) {
    std::cout << response.crl_pem();
    return 0;
  }
  Status written = WriteFileAtomically(out, response.crl_pem(), 0644);
  if (!written.ok()) return Fail(written.WithContext("--out"));
  std::cout << "CRL number " << response.number() << ": " << response.entries()
            << " revoked certificate" << (response.entries() == 1 ? "" : "s")
            << ", next update " << Expiry(response.next_update_unix()) << "; written to " << out
            << "\n";
  return 0;
}

}  // namespace

void AddCertificateInventoryCommands(CLI::App& certs, ConnectionOptions& connection, Action& action) {
  auto options = std::make_shared<ListOptions>();
  auto* list = certs.add_subcommand(
      "list",
      "Every certificate of the fleet: agent identities, service certificates (issued, pending, "
      "denied), operators, the controller's; soonest expiry first");
  list->add_option("--expiring-within", options->expiring_within,
                   "Only issued certificates that expire within this, like 30d or 12h");
  list->add_option("--host", options->host, "Only this host's certificates");
  list->add_option("--pool", options->pool, "Only certificates of the hosts of this pool");
  list->add_option("--output", options->output, "table or json")->check(CLI::IsMember({"table", "json"}));
  list->callback([&, options] { action = [&, options] { return List(connection, *options); }; });

  auto serial = std::make_shared<std::string>();
  auto host = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  auto* revoke = certs.add_subcommand(
      "revoke",
      "Revoke one certificate by serial, or every certificate of a host (--host); a revoked "
      "agent identity is refused at once and its live connection closed (needs ca-admin)");
  revoke->add_option("SERIAL", *serial, "Serial from `certs list`");
  revoke->add_option("--host", *host, "Revoke every certificate of this host instead");
  revoke->add_option("--reason", *reason, "Why; kept with the revocation");
  revoke->callback([&, serial, host, reason] {
    action = [&, serial, host, reason] {
      if (serial->empty() == host->empty()) {
        return Fail(Status::InvalidArgument("give a certificate SERIAL or --host FQDN, not both"));
      }
      return Revoke(connection, *serial, *host, *reason);
    };
  });

  auto out = std::make_shared<std::string>();
  auto* crl = certs.add_subcommand(
      "crl",
      "The certificate revocation list signed by the controller's CA (PEM); verify it with "
      "`openssl crl -in FILE -CAfile ca.pem -noout`");
  crl->add_option("--out", *out, "Write it to this file (mode 0644) instead of printing it");
  crl->callback([&, out] { action = [&, out] { return Crl(connection, *out); }; });
}

}  // namespace topos::cli
