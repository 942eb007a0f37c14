// `toposctl config export|import` and `toposctl replication status|sync`.
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <iostream>

#include "common/file_io.h"
#include "common/text.h"
#include "controller/cli/commands.h"
#include "controller/cli/table.h"

namespace topos::cli {
namespace {

using Stub = topos::v1::AdminService::Stub;
constexpr std::size_t kMaxExportBytes = 64 << 20;

int Export(const ConnectionOptions& connection, const std::string& out) {
  topos::v1::ConfigExport config;
  if (!CallAdmin(connection, &Stub::ExportConfig, topos::v1::ExportConfigRequest(), &config)) {
    return 1;
  }
  Status written = WriteFileAtomically(out, ToJson(config) + "\n", 0600);
  if (!written.ok()) return Fail(written);
  std::cout << "Exported " << config.versions_size() << " topology version(s) to " << out << "\n";
  return 0;
}

int Import(const ConnectionOptions& connection, const std::string& file) {
  auto text = ReadFile(file, kMaxExportBytes);
  if (!text.ok()) return Fail(text.status());
  topos::v1::ImportConfigRequest request;
  auto parsed = google::protobuf::util::JsonStringToMessage(*text, request.mutable_config());
  if (!parsed.ok()) {
    return Fail(Status::InvalidArgument(file + " is not a Topos configuration export: " +
                                        std::string(parsed.message())));
  }
  topos::v1::ImportConfigResponse response;
  if (!CallAdmin(connection, &Stub::ImportConfig, request, &response)) return 1;
  std::cout << "Imported " << response.versions_imported() << " topology version(s) from " << file
            << "\n";
  return 0;
}

int ShowStatus(const ConnectionOptions& connection, const std::string& output) {
  topos::v1::GetReplicationStatusResponse response;
  if (!CallAdmin(connection, &Stub::GetReplicationStatus, topos::v1::GetReplicationStatusRequest(),
                 &response)) {
    return 1;
  }
  if (output == "json") {
    std::cout << ToJson(response) << "\n";
    return 0;
  }
  auto now = std::chrono::system_clock::now();
  auto at = [](std::int64_t unix) {
    return std::chrono::system_clock::time_point(std::chrono::seconds(unix));
  };
  Table table({"HOST", "UP TO DATE", "APPLIED", "PUBLISHED", "LAST UPDATE", "LAST REPORT", "STATUS"});
  for (const auto& host : response.hosts()) {
    std::string behind = host.up_to_date() ? "yes" : "no";
    if (!host.up_to_date() && host.published_version() > host.applied_version()) {
      behind += " (behind by " + std::to_string(host.published_version() - host.applied_version()) + ")";
    }
    table.Add({host.fqdn(), behind, std::to_string(host.applied_version()),
               std::to_string(host.published_version()), FormatAgo(at(host.applied_at_unix()), now),
               FormatAgo(at(host.last_seen_unix()), now), host.status()});
  }
  table.Print(std::cout);
  return 0;
}

int Sync(const ConnectionOptions& connection, const std::string& host) {
  topos::v1::SyncReplicationRequest request;
  request.set_fqdn(host);
  topos::v1::SyncReplicationResponse response;
  if (!CallAdmin(connection, &Stub::SyncReplication, request, &response)) return 1;
  std::cout << "Sent the full configuration to " << response.hosts_notified() << " host(s).\n";
  return 0;
}

}  // namespace

void RegisterReplicationCommands(CLI::App& app, ConnectionOptions& connection, Action& action) {
  auto* config = app.add_subcommand("config", "Export or import the whole configuration");
  config->require_subcommand(1);
  config->fallthrough();
  auto out = std::make_shared<std::string>();
  auto* export_cmd = config->add_subcommand(
      "export", "Write every topology version to one JSON file (backup, seeding)");
  export_cmd->add_option("--out", *out, "File to write (mode 0600)")->required();
  export_cmd->callback([&connection, &action, out] {
    action = [&connection, out] { return Export(connection, *out); };
  });
  auto in = std::make_shared<std::string>();
  auto* import_cmd = config->add_subcommand(
      "import", "Load an export into a controller that has no topology yet");
  import_cmd->add_option("FILE", *in, "File written by `config export`")->required();
  import_cmd->callback([&connection, &action, in] {
    action = [&connection, in] { return Import(connection, *in); };
  });

  auto* replication = app.add_subcommand(
      "replication", "Local management store replication: who has which version");
  replication->require_subcommand(1);
  replication->fallthrough();
  auto output = std::make_shared<std::string>("table");
  auto* status = replication->add_subcommand("status", "Per host: applied vs published version");
  status->add_option("--output", *output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  status->callback([&connection, &action, output] {
    action = [&connection, output] { return ShowStatus(connection, *output); };
  });
  auto host = std::make_shared<std::string>();
  auto* sync = replication->add_subcommand("sync", "Send the full configuration again");
  sync->add_option("--host", *host, "Only this host (default: every online host)");
  sync->callback([&connection, &action, host] {
    action = [&connection, host] { return Sync(connection, *host); };
  });
}

}  // namespace topos::cli
