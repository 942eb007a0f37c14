// `toposctl topology publish|show|history|diff`: topology versions on the
// controller.
#include <filesystem>
#include <iostream>

#include "common/file_io.h"
#include "controller/cli/commands.h"
#include "controller/cli/table.h"
#include "controller/topology/text_diff.h"

namespace topos::cli {
namespace {

using Stub = topos::v1::AdminService::Stub;

struct PublishArgs {
  std::string file;
  std::string roles;
  std::string message;
};

int Publish(const ConnectionOptions& connection, const PublishArgs& args) {
  auto yaml = ReadFile(args.file, 1 << 20);
  if (!yaml.ok()) return Fail(yaml.status());
  topos::v1::PublishTopologyRequest request;
  request.set_topology_yaml(*yaml);
  request.set_message(args.message);
  request.set_source_name(std::filesystem::path(args.file).filename().string());
  std::string roles_path = args.roles;
  std::error_code ec;
  if (roles_path.empty() && std::filesystem::is_regular_file(kDefaultRolesFile, ec)) {
    roles_path = kDefaultRolesFile;
  }
  if (!roles_path.empty()) {
    auto roles = ReadFile(roles_path, 256 * 1024);
    if (!roles.ok()) return Fail(roles.status().WithContext("--roles"));
    request.set_roles_yaml(*roles);
  }
  topos::v1::PublishTopologyResponse response;
  if (!CallAdmin(connection, &Stub::PublishTopology, request, &response)) return 1;
  const auto& version = response.version();
  if (response.unchanged()) {
    std::cout << "Unchanged: " << args.file << " has the same content as version "
              << version.version() << "; nothing published.\n";
    return 0;
  }
  std::cout << "Published topology version " << version.version() << " (sha256 "
            << version.sha256().substr(0, 16) << "...), pushed to " << response.hosts_notified()
            << " online host(s), " << response.hosts_changed()
            << " with a changed slice. Watch them catch up: toposctl replication status\n";
  return 0;
}

int Show(const ConnectionOptions& connection, std::uint64_t version, const std::string& output) {
  topos::v1::GetTopologyRequest request;
  request.set_version(version);
  topos::v1::GetTopologyResponse response;
  if (!CallAdmin(connection, &Stub::GetTopology, request, &response)) return 1;
  if (output == "json") {
    std::cout << ToJson(response.version()) << "\n";
    return 0;
  }
  const auto& v = response.version();
  std::cout << "# version " << v.version() << " by " << v.author() << " at "
            << FormatUnixTime(v.created_at_unix()) << ", sha256 " << v.sha256() << "\n";
  if (!v.message().empty()) std::cout << "# " << v.message() << "\n";
  std::cout << v.topology_yaml();
  if (!v.topology_yaml().empty() && v.topology_yaml().back() != '\n') std::cout << "\n";
  return 0;
}

int History(const ConnectionOptions& connection, const std::string& output) {
  topos::v1::ListTopologyVersionsResponse response;
  if (!CallAdmin(connection, &Stub::ListTopologyVersions, topos::v1::ListTopologyVersionsRequest(),
                 &response)) {
    return 1;
  }
  if (output == "json") {
    std::cout << ToJson(response) << "\n";
    return 0;
  }
  Table table({"VERSION", "PUBLISHED", "AUTHOR", "SHA256", "FILE", "MESSAGE"});
  for (const auto& v : response.versions()) {
    table.Add({std::to_string(v.version()), FormatUnixTime(v.created_at_unix()), v.author(),
               v.sha256().substr(0, 12), v.source_name(), v.message()});
  }
  table.Print(std::cout);
  if (response.versions().empty()) std::cout << "(nothing published yet)\n";
  return 0;
}

int Diff(const ConnectionOptions& connection, std::uint64_t from, std::uint64_t to) {
  topos::v1::GetTopologyResponse a, b;
  topos::v1::GetTopologyRequest request;
  request.set_version(from);
  if (!CallAdmin(connection, &Stub::GetTopology, request, &a)) return 1;
  request.set_version(to);
  if (!CallAdmin(connection, &Stub::GetTopology, request, &b)) return 1;
  std::string diff = topology::UnifiedDiff(a.version().topology_yaml(), b.version().topology_yaml(),
                                           "version " + std::to_string(from),
                                           "version " + std::to_string(to));
  if (diff.empty()) {
    std::cout << "versions " << from << " and " << to << " have the same content\n";
  } else {
    std::cout << diff;
  }
  return 0;
}

}  // namespace

void RegisterTopologyAdminCommands(CLI::App& topology, ConnectionOptions& connection,
                                   Action& action) {
  auto publish_args = std::make_shared<PublishArgs>();
  auto* publish = topology.add_subcommand(
      "publish", "Validate on the controller and publish as a new numbered version");
  publish->add_option("FILE", publish_args->file, "Topology YAML file")->required();
  publish->add_option("--roles", publish_args->roles,
                      std::string("Role catalog (default: ") + kDefaultRolesFile +
                          " if present, else the one of the latest version)");
  publish->add_option("-m,--message", publish_args->message, "Why this version (at most 1 KiB)");
  publish->callback([&connection, &action, publish_args] {
    action = [&connection, publish_args] { return Publish(connection, *publish_args); };
  });

  auto show_version = std::make_shared<std::uint64_t>(0);
  auto show_output = std::make_shared<std::string>("yaml");
  auto* show = topology.add_subcommand("show", "Print a published version (default: the latest)");
  show->add_option("--version", *show_version, "Version number")->check(CLI::PositiveNumber);
  show->add_option("--output", *show_output, "yaml or json")
      ->check(CLI::IsMember({"yaml", "json"}))
      ->capture_default_str();
  show->callback([&connection, &action, show_version, show_output] {
    action = [&connection, show_version, show_output] {
      return Show(connection, *show_version, *show_output);
    };
  });

  auto history_output = std::make_shared<std::string>("table");
  auto* history = topology.add_subcommand("history", "List published versions");
  history->add_option("--output", *history_output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  history->callback([&connection, &action, history_output] {
    action = [&connection, history_output] { return History(connection, *history_output); };
  });

  auto versions = std::make_shared<std::pair<std::uint64_t, std::uint64_t>>();
  auto* diff = topology.add_subcommand("diff", "Show what changed between two versions");
  diff->add_option("A", versions->first, "Older version")->required()->check(CLI::PositiveNumber);
  diff->add_option("B", versions->second, "Newer version")->required()->check(CLI::PositiveNumber);
  diff->callback([&connection, &action, versions] {
    action = [&connection, versions] { return Diff(connection, versions->first, versions->second); };
  });
}

}  // namespace topos::cli
