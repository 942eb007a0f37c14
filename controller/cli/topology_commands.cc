// `toposctl topology ...`: work with topology files. `validate` runs offline:
// it needs no controller, only the file and a role catalog.
#include <filesystem>
#include <iostream>
#include <memory>

#include "controller/cli/commands.h"
#include "controller/topology/role_catalog.h"
#include "controller/topology/validator.h"
#include "controller/topology/yaml_loader.h"

namespace topos::cli {
namespace {

struct ValidateArgs {
  std::string file;
  std::string roles;
};

int Validate(const ValidateArgs& args) {
  std::string roles_path = args.roles;
  if (roles_path.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(kDefaultRolesFile, ec)) {
      return Fail(Status::InvalidArgument(std::string("no role catalog: pass --roles FILE (") +
                                          kDefaultRolesFile + " is not in the current directory)"));
    }
    roles_path = kDefaultRolesFile;
  }
  auto catalog = topology::RoleCatalog::LoadFile(roles_path);
  if (!catalog.ok()) {
    std::cerr << catalog.status().message() << "\n";
    return 1;
  }
  auto loaded = topology::LoadYamlFileAs<v1::Topology>(args.file);
  if (!loaded.ok()) {
    std::cerr << loaded.status().message() << "\n";
    return 1;
  }
  const v1::Topology& t = loaded->message;
  auto errors = topology::ValidateTopology(t, loaded->sources, *catalog);
  if (!errors.empty()) {
    for (const auto& error : errors) std::cerr << error.ToString() << "\n";
    return 1;
  }
  std::cout << args.file << ": valid (" << t.sites_size() << " sites, " << t.pools_size()
            << " pools, " << t.hosts_size() << " hosts, " << t.stores_size() << " stores)\n";
  return 0;
}

}  // namespace

void RegisterTopologyCommands(CLI::App& app, ConnectionOptions& connection, Action& action) {
  auto* topology = app.add_subcommand("topology", "Validate, publish and inspect topologies");
  topology->require_subcommand(1);
  topology->fallthrough();
  RegisterTopologyAdminCommands(*topology, connection, action);

  auto validate_args = std::make_shared<ValidateArgs>();
  auto* validate = topology->add_subcommand(
      "validate", "Check a topology file offline; print every problem with its line");
  validate->add_option("FILE", validate_args->file, "Topology YAML file")->required();
  validate->add_option(
      "--roles", validate_args->roles,
      std::string("Role catalog YAML (default: ") + kDefaultRolesFile + " if present)");
  validate->callback(
      [&action, validate_args] { action = [validate_args] { return Validate(*validate_args); }; });
}

}  // namespace topos::cli
