#include <chrono>
#include <iostream>

#include "common/text.h"
#include "controller/cli/commands.h"
#include "controller/cli/table.h"

namespace topos::cli {
namespace {

std::chrono::system_clock::time_point FromUnix(std::int64_t seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

// "in 6d" for the identity certificate; "in 2d (topos-pchat)" when a
// service certificate expires first.
std::string SoonestCertificate(const topos::v1::HostInfo& host,
                               std::chrono::system_clock::time_point now) {
  std::string text = FormatExpiry(FromUnix(host.soonest_certificate_not_after_unix()), now);
  const std::string& which = host.soonest_certificate();
  if (which.rfind("service ", 0) == 0) text += " (" + which.substr(8) + ")";
  return text;
}

int ListHosts(const ConnectionOptions& connection, const std::string& output) {
  auto client = AdminClient::Connect(connection);
  if (!client.ok()) return Fail(client.status());
  topos::v1::ListHostsResponse response;
  auto context = client->NewContext();
  grpc::Status status = client->stub().ListHosts(context.get(), {}, &response);
  if (!status.ok()) return Fail(client->Explain(status));
  if (output == "json") {
    std::cout << ToJson(response) << "\n";
    return 0;
  }
  auto now = std::chrono::system_clock::now();
  const bool published = response.published_version() > 0;
  Table table({"HOST", "STATUS", "SITE", "POOL", "LAST SEEN", "AGENT", "OS", "SOONEST CERT",
               "STORE", "NOTE"});
  for (const auto& host : response.hosts()) {
    std::string pools;
    for (const auto& pool : host.pools()) pools += (pools.empty() ? "" : ",") + pool;
    std::string note;
    if (!host.enrolled()) {
      note = "named by the topology, never enrolled";
    } else if (published && !host.in_topology()) {
      note = "not in the published topology";
    }
    std::string store = "-";
    if (host.enrolled() && published) {
      store = "v" + std::to_string(host.applied_config_version()) + "/" +
              std::to_string(response.published_version());
    }
    table.Add({host.fqdn(), host.status(), host.site().empty() ? "-" : host.site(),
               pools.empty() ? "-" : pools, FormatAgo(FromUnix(host.last_seen_unix()), now),
               host.agent_version().empty() ? "-" : host.agent_version(),
               host.facts().os_name().empty() ? "-" : host.facts().os_name(),
               host.enrolled() ? SoonestCertificate(host, now) : "-",
               store, note});
  }
  table.Print(std::cout);
  if (response.hosts().empty()) {
    std::cout << "(no hosts enrolled yet: create a token with `toposctl token create --host FQDN`)\n";
  }
  return 0;
}

int ShowHost(const ConnectionOptions& connection, const std::string& fqdn,
             const std::string& output) {
  auto client = AdminClient::Connect(connection);
  if (!client.ok()) return Fail(client.status());
  topos::v1::GetHostRequest request;
  request.set_fqdn(fqdn);
  topos::v1::GetHostResponse response;
  auto context = client->NewContext();
  grpc::Status status = client->stub().GetHost(context.get(), request, &response);
  if (!status.ok()) return Fail(client->Explain(status));
  if (output == "json") {
    std::cout << ToJson(response.host()) << "\n";
    return 0;
  }
  const auto& host = response.host();
  const auto& facts = host.facts();
  auto now = std::chrono::system_clock::now();
  Table table({"FIELD", "VALUE"});
  table.Add({"host", host.fqdn()});
  table.Add({"status", host.status()});
  table.Add({"last seen", FormatAgo(FromUnix(host.last_seen_unix()), now)});
  table.Add({"enrolled", FormatUnixTime(host.enrolled_at_unix())});
  table.Add({"agent version", host.agent_version()});
  table.Add({"os", facts.os_name() + " (" + facts.os_version() + ")"});
  table.Add({"kernel", facts.kernel() + " " + facts.arch()});
  table.Add({"cpus", std::to_string(facts.cpus())});
  table.Add({"memory", std::to_string(facts.memory_bytes() >> 20) + " MiB"});
  table.Add({"disk free", std::to_string(facts.disk_free_bytes() >> 20) + " MiB"});
  table.Add({"certificate", host.certificate_serial()});
  table.Add({"cert expires", FormatUnixTime(host.certificate_not_after_unix()) + " (" +
                                 FormatExpiry(FromUnix(host.certificate_not_after_unix()), now) +
                                 ")"});
  table.Add({"refused duplicates", std::to_string(host.refused_duplicate_connections())});
  std::string pools;
  for (const auto& pool : host.pools()) pools += (pools.empty() ? "" : ",") + pool;
  table.Add({"site / pools", (host.site().empty() ? "-" : host.site()) + " / " +
                                 (pools.empty() ? "-" : pools)});
  table.Add({"local store", "version " + std::to_string(host.applied_config_version())});
  table.Print(std::cout);

  std::cout << "\nServices:\n";
  if (host.services().empty()) {
    std::cout << "  (none installed)\n";
  } else {
    Table services({"SERVICE", "VERSION", "STATE", "PID", "RESTARTS", "HEALTH", "CERT EXPIRES", "PREVIOUS"});
    for (const auto& service : host.services()) {
      services.Add({service.name(), service.version(), service.state(),
                    service.pid() > 0 ? std::to_string(service.pid()) : "-",
                    std::to_string(service.restarts()), service.health(),
                    service.certificate_not_after_unix() > 0
                        ? FormatExpiry(FromUnix(service.certificate_not_after_unix()), now)
                        : "-",
                    service.previous_version().empty() ? "-" : service.previous_version()});
    }
    services.Print(std::cout);
  }
  std::cout << "\nService certificates:\n";
  if (host.certificates().empty()) {
    std::cout << "  (none requested)\n";
  } else {
    Table certificates({"REQUEST", "SERVICE", "STATE", "NAMES", "SERIAL", "EXPIRES"});
    for (const auto& request : host.certificates()) {
      std::string names;
      for (const auto& name : request.names()) names += (names.empty() ? "" : ",") + name;
      certificates.Add({request.id(), request.service(), CertificateStateName(request.state()), names,
                        request.serial().empty() ? "-" : request.serial(),
                        request.not_after_unix() > 0
                            ? FormatExpiry(FromUnix(request.not_after_unix()), now)
                            : "-"});
    }
    certificates.Print(std::cout);
  }
  return 0;
}

int RemoveHost(const ConnectionOptions& connection, const std::string& fqdn) {
  auto client = AdminClient::Connect(connection);
  if (!client.ok()) return Fail(client.status());
  topos::v1::RemoveHostRequest request;
  request.set_fqdn(fqdn);
  topos::v1::RemoveHostResponse response;
  auto context = client->NewContext();
  grpc::Status status = client->stub().RemoveHost(context.get(), request, &response);
  if (!status.ok()) return Fail(client->Explain(status));
  std::cout << "Host " << fqdn << " removed; revoked " << response.revoked_serials_size()
            << " certificate(s). It must enroll with a new token to return.\n";
  return 0;
}

}  // namespace

void RegisterHostCommands(CLI::App& app, ConnectionOptions& connection, Action& action) {
  auto output = std::make_shared<std::string>("table");
  auto* hosts = app.add_subcommand(
      "hosts", "List enrolled hosts: status, last seen, agent, OS, certificate expiry");
  hosts->require_subcommand(0, 1);
  hosts->fallthrough();
  hosts->add_option("--output", *output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  hosts->callback([&, output] {
    if (!action) action = [&, output] { return ListHosts(connection, *output); };
  });

  auto show_fqdn = std::make_shared<std::string>();
  auto* show = hosts->add_subcommand("show", "Show one host in detail");
  show->add_option("FQDN", *show_fqdn, "The host")->required();
  show->add_option("--output", *output, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  show->callback([&, show_fqdn, output] {
    action = [&, show_fqdn, output] { return ShowHost(connection, *show_fqdn, *output); };
  });

  auto remove_fqdn = std::make_shared<std::string>();
  auto* remove = hosts->add_subcommand(
      "remove", "Remove a host: revoke its certificate and cut its connection");
  remove->add_option("FQDN", *remove_fqdn, "The host")->required();
  remove->callback([&, remove_fqdn] {
    action = [&, remove_fqdn] { return RemoveHost(connection, *remove_fqdn); };
  });
}

}  // namespace topos::cli
