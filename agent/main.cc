// topos-agent: `enroll` turns a token into this host's identity; `run`
// keeps the link to the controller (and enrolls first if given a token).
#include <CLI/CLI.hpp>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <thread>

#include "agent/link/controller_link.h"
#include "agent/link/enroller.h"
#include "agent/state/agent_state.h"
#include "common/logging.h"
#include "common/text.h"

namespace {

int Fail(const topos::Status& status) {
  std::cerr << "topos-agent: " << status.message() << "\n";
  return 1;
}

struct RunArgs {
  std::string heartbeat = "10s";
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

  topos::agent::LinkOptions options;
  options.heartbeat_interval = *interval;
  topos::agent::ControllerLink link(topos::agent::StateDir(state_dir), options);
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

}  // namespace

int main(int argc, char** argv) {
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
  run_cmd->add_option("--heartbeat", run_args.heartbeat, "Heartbeat interval (e.g. 10s)")
      ->capture_default_str();
  add_enroll_flags(run_cmd, false);

  CLI11_PARSE(app, argc, argv);
  if (auto status = topos::SetupLogging(log_level, "agent"); !status.ok()) return Fail(status);
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
