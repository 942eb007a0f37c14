// `toposctl rollout ...`: plan (what each host of the published topology
// needs to converge, read-only), start, list, status, watch, pause, resume,
// abort and rollback.
#include <cctype>
#include <chrono>
#include <iostream>
#include <memory>

#include "common/text.h"
#include "controller/cli/commands.h"
#include "controller/cli/rollout_flags.h"
#include "controller/cli/rollout_view.h"
#include "controller/cli/rollout_watch.h"
#include "controller/cli/table.h"

namespace topos::cli {
namespace {

// "install_service": the step kind as operators read it.
std::string StepKindText(topos::v1::StepKind kind) {
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
    std::cout << "  + " << StepKindText(change.kind())
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

struct StartOptions {
  StrategyFlags strategy;
  std::vector<std::string> hosts;
  bool wait = false;
  bool all_steps = false;
  std::string output = "table";
};

int ReportStarted(const ConnectionOptions& connection, const v1::StartRolloutResponse& response,
                  const StartOptions& options) {
  StartedReport report;
  report.detail =
      " (topology version " + std::to_string(response.rollout().topology_version()) + ")";
  report.output = options.output;
  report.wait = options.wait;
  report.all_steps = options.all_steps;
  return ReportStartedRollout(connection, response, report);
}

int Start(const ConnectionOptions& connection, const StartOptions& options) {
  auto spec = ToSpec(options.strategy);
  if (!spec.ok()) return Fail(spec.status());
  v1::StartRolloutRequest request;
  *request.mutable_strategy() = *spec;
  for (const auto& host : options.hosts) request.add_hosts(host);
  v1::StartRolloutResponse response;
  if (!CallAdmin(connection, &v1::AdminService::Stub::StartRollout, request, &response)) return 1;
  return ReportStarted(connection, response, options);
}

int Rollback(const ConnectionOptions& connection, const std::string& id, const StartOptions& options) {
  auto spec = ToSpec(options.strategy);
  if (!spec.ok()) return Fail(spec.status());
  v1::RollbackRolloutRequest request;
  request.set_id(id);
  *request.mutable_strategy() = *spec;
  v1::StartRolloutResponse response;
  if (!CallAdmin(connection, &v1::AdminService::Stub::RollbackRollout, request, &response)) return 1;
  return ReportStarted(connection, response, options);
}

int List(const ConnectionOptions& connection, const std::string& output) {
  v1::ListRolloutsResponse response;
  if (!CallAdmin(connection, &v1::AdminService::Stub::ListRollouts, v1::ListRolloutsRequest(),
                 &response)) {
    return 1;
  }
  if (output == "json") {
    std::cout << ToJson(response) << "\n";
    return 0;
  }
  if (response.rollouts().empty()) {
    std::cout << "No rollouts yet; start one with: toposctl rollout start\n";
    return 0;
  }
  Table table({"ID", "KIND", "STATE", "TOPOLOGY", "STARTED", "BY", "REASON"});
  for (const auto& rollout : response.rollouts()) {
    table.Add({rollout.id(), KindName(rollout), rollout.state(), "v" + std::to_string(rollout.topology_version()),
               FormatUnixTime(rollout.created_at_unix_ms() / 1000), rollout.created_by(),
               rollout.stop_reason().empty() ? ScheduleText(rollout) : rollout.stop_reason()});
  }
  table.Print(std::cout);
  return 0;
}

int ShowStatus(const ConnectionOptions& connection, const std::string& id, const std::string& output) {
  v1::GetRolloutRequest request;
  request.set_id(id);
  request.set_with_events(output == "json");
  v1::GetRolloutResponse response;
  if (!CallAdmin(connection, &v1::AdminService::Stub::GetRollout, request, &response)) return 1;
  if (output == "json") {
    std::cout << ToJson(response) << "\n";
  } else {
    std::cout << StatusText(response.rollout());
  }
  return 0;
}

int Control(const ConnectionOptions& connection, const std::string& id, v1::RolloutAction action,
            bool cancel_running, const std::string& reason) {
  v1::ControlRolloutRequest request;
  request.set_id(id);
  request.set_action(action);
  request.set_cancel_running(cancel_running);
  request.set_reason(reason);
  v1::ControlRolloutResponse response;
  if (!CallAdmin(connection, &v1::AdminService::Stub::ControlRollout, request, &response)) return 1;
  std::cout << "rollout " << id << " is now " << response.rollout().state();
  int running = 0;
  for (const auto& pool : response.rollout().pools()) running += CountPool(pool).running;
  if (running > 0 && action != v1::ROLLOUT_RESUME) {
    std::cout << "; " << running << " running host" << (running == 1 ? "" : "s")
              << (cancel_running ? " are being cancelled" : " will finish");
  }
  std::cout << "\n";
  return 0;
}

}  // namespace

void RegisterRolloutCommands(CLI::App& app, ConnectionOptions& connection, Action& action) {
  auto* rollout = app.add_subcommand(
      "rollout", "Roll the published topology out to the fleet in stages, canaries and windows");
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

  auto start_options = std::make_shared<StartOptions>();
  auto* start = rollout->add_subcommand(
      "start",
      "Start a rollout of the published topology to every enrolled host that needs a change "
      "(see rollout plan). Exit codes with --wait: 0 succeeded, 1 failed, 3 aborted, 4 could "
      "not follow it to the end");
  AddStrategyFlags(start, start_options->strategy);
  start->add_option("--host", start_options->hosts, "Only this host (repeatable)");
  start->add_flag("--wait", start_options->wait,
                  "Follow it with the live progress view until it ends; the exit code says how");
  start->add_flag("--steps", start_options->all_steps, "With --wait: show every step, not only failures");
  start->add_option("--output", start_options->output, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  start->callback([&, start_options] {
    action = [&, start_options] { return Start(connection, *start_options); };
  });

  auto* list = rollout->add_subcommand("list", "List rollouts, newest first");
  list->add_option("--output", *output, "table or json")->check(CLI::IsMember({"table", "json"}));
  list->callback([&, output] { action = [&, output] { return List(connection, *output); }; });

  auto id = std::make_shared<std::string>();
  auto* status = rollout->add_subcommand(
      "status", "Show a rollout: state, progress per pool, failure budget, every host");
  status->add_option("ID", *id, "Rollout id (rollout list)")->required();
  status->add_option("--output", *output, "table or json (json includes every event)")
      ->check(CLI::IsMember({"table", "json"}));
  status->callback([&, id, output] { action = [&, id, output] { return ShowStatus(connection, *id, *output); }; });

  auto all_steps = std::make_shared<bool>(false);
  auto* watch = rollout->add_subcommand(
      "watch",
      "Follow a rollout's events and progress until it ends (exit 0 succeeded, 1 failed, 3 "
      "aborted, 4 could not follow it to the end)");
  watch->add_option("ID", *id, "Rollout id")->required();
  watch->add_flag("--steps", *all_steps, "Show every step, not only failures");
  watch->callback([&, id, all_steps] {
    action = [&, id, all_steps] {
      WatchOptions options;
      options.all_steps = *all_steps;
      return WatchRollout(connection, *id, options);
    };
  });

  for (auto [name, kind, help] :
       {std::tuple{"pause", v1::ROLLOUT_PAUSE, "Start no more hosts; running ones finish"},
        std::tuple{"resume", v1::ROLLOUT_RESUME,
                   "Continue a paused rollout (also after --pause-after-canary)"}}) {
    auto* command = rollout->add_subcommand(name, help);
    command->add_option("ID", *id, "Rollout id")->required();
    command->callback([&, id, kind] {
      action = [&, id, kind] { return Control(connection, *id, kind, false, ""); };
    });
  }
  auto cancel_running = std::make_shared<bool>(false);
  auto reason = std::make_shared<std::string>();
  auto* abort = rollout->add_subcommand(
      "abort", "Stop a rollout for good: no more hosts start; running ones finish unless --cancel-running");
  abort->add_option("ID", *id, "Rollout id")->required();
  abort->add_flag("--cancel-running", *cancel_running, "Cancel the steps running on hosts now");
  abort->add_option("--reason", *reason, "Why, kept with the rollout");
  abort->callback([&, id, cancel_running, reason] {
    action = [&, id, cancel_running, reason] {
      return Control(connection, *id, v1::ROLLOUT_ABORT, *cancel_running, *reason);
    };
  });

  auto rollback_options = std::make_shared<StartOptions>();
  auto* rollback = rollout->add_subcommand(
      "rollback",
      "Put the hosts a finished rollout touched back to the service versions they ran before "
      "it (a rollout of its own, with the same strategy flags)");
  rollback->add_option("ID", *id, "The rollout to undo")->required();
  AddStrategyFlags(rollback, rollback_options->strategy);
  rollback->add_flag("--wait", rollback_options->wait, "Follow it until it ends");
  rollback->callback([&, id, rollback_options] {
    action = [&, id, rollback_options] { return Rollback(connection, *id, *rollback_options); };
  });
}

}  // namespace topos::cli
