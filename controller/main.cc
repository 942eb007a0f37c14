// topos-controller: `init` creates a data directory, `run` serves it.
#include <CLI/CLI.hpp>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <thread>

#include "common/grpc_runtime.h"
#include "common/logging.h"
#include "common/text.h"
#include "controller/memory_allocator.h"
#include "controller/server.h"
#include "controller/setup/data_dir.h"
#include "controller/store/sqlite_store.h"

namespace {

using topos::controller::ControllerServer;

int Fail(const topos::Status& status) {
  std::cerr << "topos-controller: " << status.message() << "\n";
  return 1;
}

int RunInit(const topos::controller::InitOptions& options) {
  topos::Status status = topos::controller::InitDataDir(options);
  if (!status.ok()) return Fail(status);
  std::cout << "Created controller data directory " << options.data_dir.string() << "\n"
            << "  CA, server certificate and store for " << options.name << "\n"
            << "  operator credentials: " << (options.data_dir / "admin").string()
            << "/ (ca.pem, cert.pem, key.pem)\n"
            << "Next: topos-controller run --data-dir " << options.data_dir.string() << "\n";
  return 0;
}

int RunServe(const std::string& data_dir, const topos::controller::ServerOptions& options) {
  // Block the stop signals in every thread; one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const auto allocator = topos::controller::CurrentMemoryAllocator();
  if (allocator.serves_malloc) {
    spdlog::info("memory allocator: {}", allocator.name);
  } else {
    spdlog::warn("memory allocator: {} is linked but malloc is another allocator's; expect more "
                 "memory per connected agent",
                 allocator.name);
  }

  auto data = topos::controller::LoadDataDir(data_dir);
  if (!data.ok()) return Fail(data.status());
  auto store = topos::controller::SqliteStore::Open(data->database_path());
  if (!store.ok()) return Fail(store.status());
  auto server = ControllerServer::Start(std::move(*data), std::move(*store), options);
  if (!server.ok()) return Fail(server.status());
  std::cout << "listening on port " << (*server)->port() << std::endl;

  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    spdlog::info("received signal {}, shutting down", signal);
    (*server)->Shutdown();
  });
  (*server)->Wait();
  waiter.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  topos::TuneGrpcRuntime();
  CLI::App app{"topos-controller: the Topos controller daemon.\n"
               "Holds the CA and the state, and serves agents and operators over mutual TLS."};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->capture_default_str();

  topos::controller::InitOptions init;
  std::string key_type = "ecdsa-p256";
  auto* init_cmd = app.add_subcommand(
      "init", "Create a data directory: CA, server certificate, first operator credential");
  init_cmd->add_option("--data-dir", init.data_dir, "Directory to create (must not exist or be empty)")
      ->required();
  init_cmd->add_option("--name", init.name, "The controller's FQDN (e.g. controller.example.test)")
      ->required();
  init_cmd->add_option("--listen", init.listen, "HOST:PORT to serve on")->capture_default_str();
  init_cmd->add_option("--san", init.extra_sans,
                       "Extra DNS name or IP address for the server certificate (repeatable)");
  init_cmd->add_option("--key-type", key_type, "ecdsa-p256 or rsa-3072")->capture_default_str();

  std::string data_dir;
  topos::controller::ServerOptions serve;
  std::string agent_validity = "7d";
  std::string identity_grace = "30d";
  auto* run_cmd = app.add_subcommand("run", "Serve agents and operators");
  run_cmd->add_option("--data-dir", data_dir, "Data directory made by `init`")->required();
  run_cmd->add_option("--listen", serve.listen, "Override the listen address (HOST:PORT)");
  run_cmd->add_option("--agent-cert-validity", agent_validity,
                      "Lifetime of agent identity certificates (e.g. 7d, 12h)")
      ->capture_default_str();
  run_cmd->add_option("--identity-grace", identity_grace,
                      "How long after its certificate expired an agent that was offline may "
                      "still recover its identity without a new token (e.g. 30d)")
      ->capture_default_str();
  run_cmd
      ->add_option("--reconnect-rate", serve.reconnect_rate,
                   "Agent handshakes per second this controller can take: at shutdown, "
                   "connected agents are told to spread their return over connected / rate "
                   "seconds (default: 100 per core)")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  if (auto status = topos::SetupLogging(log_level, "controller"); !status.ok()) return Fail(status);

  if (*init_cmd) {
    auto type = topos::certs::ParseKeyType(key_type);
    if (!type.ok()) return Fail(type.status());
    init.key_type = *type;
    return RunInit(init);
  }
  auto validity = topos::ParseDuration(agent_validity);
  if (!validity.ok()) return Fail(validity.status().WithContext("--agent-cert-validity"));
  serve.agent_certificate_validity = *validity;
  auto grace = topos::ParseDuration(identity_grace);
  if (!grace.ok()) return Fail(grace.status().WithContext("--identity-grace"));
  serve.identity_grace = *grace;
  if (!serve.listen.empty()) {
    if (auto s = topos::CheckHostPort(serve.listen, true); !s.ok()) return Fail(s.WithContext("--listen"));
  }
  return RunServe(data_dir, serve);
}
