// `toposctl rollout plan [--output table|json]`: what each host of the
// published topology needs to converge, and why. Read-only.
#include <cctype>
#include <iostream>
#include <memory>

#include "controller/cli/commands.h"

namespace topos::cli {
namespace {

// "install_service": the step kind as operators read it.
std::string KindName(topos::v1::StepKind kind) {
  std::string name = topos::v1::StepKind_Name(kind);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

void PrintHost(const topos::v1::HostPlan& host) {
  std::cout << host.host_fqdn() << " (" << host.status() << "): ";
  if (!host.error().empty()) {
    std::cout << "error: " << host.error() << "\n";
  } else if (host.converged()) {
    std::cout << "converged\n";
  } else {
    std::cout << host.changes_size() << (host.changes_size() == 1 ? " change" : " changes") << "\n";
  }
  for (const auto& change : host.changes()) {
    std::cout << "  + " << KindName(change.kind())
              << (change.service().empty() ? "" : " " + change.service()) << ": " << change.reason()
              << "\n";
  }
  for (const auto& note : host.notes()) std::cout << "  ! " << note << "\n";
}

int Plan(const ConnectionOptions& connection, const std::string& output) {
  topos::v1::PlanRolloutRequest request;
  topos::v1::PlanRolloutResponse response;
  if (!CallAdmin(connection, &topos::v1::AdminService::Stub::PlanRollout, request, &response)) {
    return 1;
  }
  if (output == "json") {
    std::cout << ToJson(response) << "\n";
    return 0;
  }
  int changing = 0, converged = 0, errors = 0;
  for (const auto& host : response.hosts()) {
    PrintHost(host);
    if (!host.error().empty()) {
      ++errors;
    } else if (host.converged()) {
      ++converged;
    } else {
      ++changing;
    }
  }
  std::cout << "Plan for topology version " << response.published_version() << ": " << changing
            << " of " << response.hosts_size() << " hosts change, " << converged << " converged, "
            << errors << " with errors. Nothing was changed.\n";
  return 0;
}

}  // namespace

void RegisterRolloutCommands(CLI::App& app, ConnectionOptions& connection, Action& action) {
  auto* rollout = app.add_subcommand("rollout", "Plan the rollout of the published topology");
  rollout->require_subcommand(1);
  auto output = std::make_shared<std::string>("table");
  auto* plan = rollout->add_subcommand(
      "plan",
      "Show, per host of the published topology, the steps that would converge it and why "
      "(from what each host last reported). Changes nothing");
  plan->add_option("--output", *output, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  plan->callback([&, output] {
    action = [&, output] { return Plan(connection, *output); };
  });
}

}  // namespace topos::cli
