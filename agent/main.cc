// topos-agent: `enroll` turns a token into this host's identity; `run`
// keeps the link to the controller (and enrolls first if given a token);
// `store show` prints the configuration the controller last pushed.
#include <CLI/CLI.hpp>
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <iostream>
#include <thread>

#include "agent/link/controller_link.h"
#include "agent/node/agent_node.h"
#include "agent/localstore/local_store.h"
#include "agent/link/enroller.h"
#include "agent/state/agent_state.h"
#include "common/file_io.h"
#include "common/grpc_runtime.h"
#include "common/logging.h"
#include "common/text.h"

namespace {

int Fail(const topos::Status& status) {
  std::cerr << "topos-agent: " << status.message() << "\n";
  return 1;
}

struct RunArgs {
  std::string heartbeat = "10s";
  std::string service_manager = "auto";
};

int RunLink(const std::string& state_dir, const RunArgs& args) {
  auto interval = topos::ParseDuration(args.heartbeat);
  if (!interval.ok()) return Fail(interval.status().WithContext("--heartbeat"));
  if (*interval > std::chrono::hours(1)) {
    return Fail(topos::Status::InvalidArgument("--heartbeat must be at most 1h"));
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto manager = topos::agent::ParseServiceManagerKind(args.service_manager);
  if (!manager.ok()) return Fail(manager.status().WithContext("--service-manager"));

  topos::agent::NodeOptions options;
  options.link.heartbeat_interval = *interval;
  options.service_manager = *manager;
  topos::agent::AgentNode link(state_dir, options);
  if (auto started = link.Start(); !started.ok()) return Fail(started);
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    link.Stop();
  });
  topos::Status ended = link.Wait();
  // Wake the signal thread if the link ended by itself.
  if (!ended.ok()) ::kill(::getpid(), SIGTERM);
  waiter.join();
  return ended.ok() ? 0 : Fail(ended);
}

std::string UtcTime(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  char text[32] = {};
  if (gmtime_r(&t, &tm) == nullptr ||
      std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(unix_seconds);
  }
  return text;
}

// `store show`: the applied slice as current.json (json) or one line per item.
int ShowStore(const std::string& state_dir, const std::string& output) {
  if (output != "json" && output != "summary") {
    return Fail(topos::Status::InvalidArgument("--output must be json or summary"));
  }
  if (!topos::agent::StateDir(state_dir).IsEnrolled()) {
    return Fail(topos::Status::FailedPrecondition(
        state_dir + " is not an enrolled agent's state directory (run `topos-agent enroll` first)"));
  }
  auto store = topos::agent::LocalStore::Open(state_dir);
  if (!store.ok()) return Fail(store.status());
  if ((*store)->version() == 0) {
    std::cout << "no configuration applied yet (the controller pushes it after "
                 "`toposctl topology publish`)\n";
    return 0;
  }
  if (output == "json") {
    auto json = topos::ReadFile((*store)->snapshot_path());
    if (!json.ok()) return Fail(json.status());
    std::cout << *json;
    if (!json->empty() && json->back() != '\n') std::cout << "\n";
    return 0;
  }
  auto config = (*store)->Current();
  if (!config.ok()) return Fail(config.status());
  std::cout << "version: " << config->version() << "\n"
            << "published at: " << UtcTime(config->published_at_unix()) << "\n"
            << "host: " << config->host_fqdn() << "\n"
            << "site: " << config->site() << "\n";
  for (const auto& pool : config->pools()) {
    std::cout << "pool: " << pool.name() << " (role " << pool.role() << ")\n";
  }
  for (const auto& service : config->services()) {
    std::cout << "service: " << service.name() << " " << service.version() << " (role "
              << service.role() << ")\n";
  }
  for (const auto& setting : config->settings()) {
    std::cout << "setting: " << setting.key() << " = " << setting.value() << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc gives each thread that allocates its own arena (up to 8 per core;
  // gRPC alone starts ten threads), and freed memory stays in partly used
  // pages of the arena that served it, which malloc_trim cannot return: after
  // an install the agent kept ~1.5 MiB more with a dozen arenas than with
  // two. Two are plenty for an agent that mostly waits. Set before any
  // thread starts, so that every thread is bound by it.
  mallopt(M_ARENA_MAX, 2);
  topos::TuneGrpcRuntime();
  CLI::App app{"topos-agent: the Topos agent.\n"
               "Enrolls this host with a controller once, then keeps a mutual-TLS link to it."};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->capture_default_str();

  topos::agent::EnrollOptions enroll;
  std::string state_dir;
  std::string key_type = "ecdsa-p256";
  RunArgs run_args;

  auto add_enroll_flags = [&](CLI::App* cmd, bool required) {
    auto* controller = cmd->add_option("--controller", enroll.controller, "Controller HOST:PORT");
    auto* token = cmd->add_option("--token", enroll.token, "Bootstrap token from `toposctl token create`");
    auto* pin = cmd->add_option("--ca-sha256", enroll.ca_sha256,
                                "SHA-256 fingerprint of the controller's CA (pinned)");
    cmd->add_option("--host", enroll.host_fqdn, "This host's FQDN (default: the host name)");
    cmd->add_option("--key-type", key_type, "ecdsa-p256 or rsa-3072")->capture_default_str();
    if (required) {
      controller->required();
      token->required();
      pin->required();
    } else {
      token->needs(controller)->needs(pin);
    }
  };

  auto* enroll_cmd = app.add_subcommand("enroll", "Enroll this host with a one-time token");
  add_enroll_flags(enroll_cmd, true);
  enroll_cmd->add_option("--state-dir", state_dir, "Where the identity is kept")->required();

  auto* run_cmd = app.add_subcommand(
      "run", "Connect to the controller and stay connected (with --token: enroll first)");
  run_cmd->add_option("--state-dir", state_dir, "State directory made by `enroll`")->required();
  run_cmd->add_option("--service-manager", run_args.service_manager,
                      "auto (systemd when it runs and we are root, else the built-in "
                      "supervisor), systemd or supervisor")
      ->capture_default_str();
  run_cmd->add_option("--heartbeat", run_args.heartbeat, "Heartbeat interval (e.g. 10s)")
      ->capture_default_str();
  add_enroll_flags(run_cmd, false);

  auto* store_cmd = app.add_subcommand("store", "Inspect the local management store");
  store_cmd->require_subcommand(1);
  auto* store_show_cmd =
      store_cmd->add_subcommand("show", "Print the configuration last applied to this host");
  std::string store_output = "json";
  store_show_cmd->add_option("--state-dir", state_dir, "State directory made by `enroll`")
      ->required();
  store_show_cmd->add_option("--output", store_output, "json or summary")
      ->check(CLI::IsMember({"json", "summary"}))
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  if (auto status = topos::SetupLogging(log_level, "agent"); !status.ok()) return Fail(status);
  if (*store_show_cmd) return ShowStore(state_dir, store_output);
  auto type = topos::certs::ParseKeyType(key_type);
  if (!type.ok()) return Fail(type.status().WithContext("--key-type"));
  enroll.key_type = *type;
  enroll.state_dir = state_dir;

  bool enroll_first = *enroll_cmd || !enroll.token.empty();
  if (enroll_first) {
    topos::agent::StateDir dir(state_dir);
    if (*run_cmd && dir.IsEnrolled()) {
      spdlog::info("{} is already enrolled; ignoring --token", state_dir);
    } else if (auto status = topos::agent::Enroll(enroll); !status.ok()) {
      return Fail(status);
    } else {
      std::cout << "Enrolled; identity saved in " << state_dir << "\n";
    }
  }
  if (*enroll_cmd) return 0;
  return RunLink(state_dir, run_args);
}
