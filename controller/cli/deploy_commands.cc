// `toposctl deploy --host FQDN [--dry-run]`: runs one host's deployment
// steps and streams their progress.
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>

#include "common/text.h"
#include "controller/cli/commands.h"

namespace topos::cli {
namespace {

// Exit codes: 0 every step succeeded; 1 a step failed (or the call did);
// 2 a step waits for someone (a certificate request to approve).
constexpr int kExitPending = 2;

void PrintIndented(const std::string& text, const std::string& prefix) {
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::cout << prefix << text.substr(start, end - start) << "\n";
    start = end + 1;
  }
}

int Deploy(const ConnectionOptions& connection, const std::string& host, bool dry_run,
           const std::string& step_timeout,
           topos::v1::StepKind action = topos::v1::STEP_KIND_UNSPECIFIED,
           const std::string& service = "") {
  topos::v1::DeployRequest request;
  request.set_host_fqdn(host);
  request.set_dry_run(dry_run);
  request.set_action(action);
  request.set_service(service);
  if (!step_timeout.empty()) {
    auto timeout = ParseDuration(step_timeout);
    if (!timeout.ok()) return Fail(timeout.status().WithContext("--step-timeout"));
    if (timeout->count() < 1 || *timeout > std::chrono::hours(24)) {
      return Fail(Status::InvalidArgument("--step-timeout must be between 1s and 24h"));
    }
    request.set_step_timeout_seconds(static_cast<std::uint32_t>(timeout->count()));
  }
  auto client = AdminClient::Connect(connection);
  if (!client.ok()) return Fail(client.status());
  auto context = client->NewContext();
  // A deploy lasts as long as its steps; each step has its own deadline.
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::hours(25));
  auto reader = client->stub().Deploy(context.get(), request);

  topos::v1::DeployEvent event;
  int index = 0;
  int changed = 0;
  int unchanged = 0;
  bool pending = false;
  std::optional<topos::v1::DeployEvent> last;
  while (reader->Read(&event)) {
    if (event.done()) {
      last = event;
      continue;
    }
    if (!event.has_update()) {
      ++index;
      std::cout << (dry_run ? "  would run " : "[" + std::to_string(index) + "] ") << event.message()
                << "\n"
                << std::flush;
      continue;
    }
    const auto& update = event.update();
    if (!update.output().empty()) PrintIndented(update.output(), "      | ");
    const auto& result = update.result();
    switch (update.state()) {
      case topos::v1::STEP_SUCCEEDED:
        (result.changed() ? changed : unchanged)++;
        std::cout << "      " << (result.changed() ? "changed: " : "unchanged: ") << result.summary()
                  << "\n";
        break;
      case topos::v1::STEP_PENDING:
        pending = true;
        std::cout << "      pending: " << result.summary() << "\n";
        break;
      case topos::v1::STEP_FAILED:
      case topos::v1::STEP_CANCELLED:
        std::cout << "      " << (update.state() == topos::v1::STEP_FAILED ? "FAILED: " : "CANCELLED: ")
                  << "\n";
        PrintIndented(result.error(), "        ");
        for (const auto& problem : result.problems()) std::cout << "        - " << problem << "\n";
        break;
      default:
        break;
    }
    std::cout << std::flush;
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return Fail(client->Explain(status));
  if (!last) return Fail(Status::Unavailable("the deploy stream ended without a result"));
  if (dry_run) {
    std::cout << last->message() << " (nothing was changed)\n";
    return 0;
  }
  std::cout << (last->ok() ? "OK: " : pending ? "WAITING: " : "FAILED: ") << last->message() << " ("
            << changed << " changed, " << unchanged << " unchanged)\n";
  if (last->ok()) return 0;
  return pending ? kExitPending : 1;
}

}  // namespace

void RegisterDeployCommands(CLI::App& app, ConnectionOptions& connection, Action& action) {
  auto host = std::make_shared<std::string>();
  auto dry_run = std::make_shared<bool>(false);
  auto step_timeout = std::make_shared<std::string>();
  auto* deploy = app.add_subcommand(
      "deploy",
      "Bring one host to its published configuration: local store, prerequisites, install, "
      "certificate, start. Idempotent: a second run changes nothing. Exit code 0 on success, "
      "1 on failure, 2 when a certificate request waits for approval");
  deploy->add_option("--host", *host, "The host's FQDN")->required();
  deploy->add_flag("--dry-run", *dry_run, "List the steps without running them");
  deploy->add_option("--step-timeout", *step_timeout, "Deadline of each step (default 5m)");
  deploy->callback([&, host, dry_run, step_timeout] {
    action = [&, host, dry_run, step_timeout] {
      return Deploy(connection, *host, *dry_run, *step_timeout);
    };
  });

  // `toposctl service start|stop|uninstall|rollback NAME --host FQDN`: one step.
  auto* service = app.add_subcommand("service", "Act on one service of one host");
  service->require_subcommand(1);
  struct ServiceAction {
    const char* name;
    topos::v1::StepKind kind;
    const char* help;
  };
  static const ServiceAction kActions[] = {
      {"start", topos::v1::START_SERVICE, "Start it (or restart it if its configuration changed) and wait for its health check"},
      {"stop", topos::v1::STOP_SERVICE, "Stop it (stop signal, then SIGKILL after the stop timeout); it stays installed"},
      {"uninstall", topos::v1::UNINSTALL_SERVICE, "Stop it and remove its files, certificate and key from the host"},
      {"rollback", topos::v1::ROLLBACK, "Switch back to the previously installed version (restarting it if it runs)"},
  };
  for (const auto& entry : kActions) {
    auto name = std::make_shared<std::string>();
    auto target = std::make_shared<std::string>();
    auto timeout = std::make_shared<std::string>();
    auto* command = service->add_subcommand(entry.name, entry.help);
    command->add_option("SERVICE", *name, "The service's name")->required();
    command->add_option("--host", *target, "The host's FQDN")->required();
    command->add_option("--step-timeout", *timeout, "Deadline of the step (default 5m)");
    const topos::v1::StepKind kind = entry.kind;
    command->callback([&, name, target, timeout, kind] {
      action = [&, name, target, timeout, kind] {
        return Deploy(connection, *target, false, *timeout, kind, *name);
      };
    });
  }
}

}  // namespace topos::cli
