// topos-pchat: wires the environment the Topos agent provides to PchatServer.
//
//   TOPOS_TLS_CERT, TOPOS_TLS_KEY, TOPOS_TLS_CA  required, readable PEM files
//   TOPOS_PCHAT_LISTEN    address to bind (default 127.0.0.1)
//   TOPOS_PCHAT_PORT      port (default 5041; 0 picks a free one)
//   TOPOS_STORE_SNAPSHOT  the agent's current.json (optional)
//
// SIGTERM/SIGINT: stop serving, exit 0. SIGHUP: re-read the store snapshot
// and the TLS certificate and key; new connections get the new certificate,
// open ones and the listener stay. A certificate or key that cannot be used
// (unreadable, not PEM, not a pair) is logged and the previous one kept.
// Exit status 2: bad environment or files; 1: could not serve.
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "examples/pchat-service/pchat_server.h"

#ifndef TOPOS_PCHAT_VERSION
#define TOPOS_PCHAT_VERSION "dev"
#endif

namespace {

constexpr int kExitBadConfig = 2;

// The value of a required variable naming a readable file; "" after printing
// why not.
std::string RequiredFile(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    std::cerr << "topos-pchat: " << name << " is not set (it must name a PEM file)\n";
    return "";
  }
  std::ifstream in(value);
  if (!in) {
    std::cerr << "topos-pchat: " << name << "=" << value << " is not readable\n";
    return "";
  }
  return value;
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

}  // namespace

int main() {
  topos::pchat::PchatOptions options;
  options.cert_file = RequiredFile("TOPOS_TLS_CERT");
  options.key_file = RequiredFile("TOPOS_TLS_KEY");
  const std::string ca_file = RequiredFile("TOPOS_TLS_CA");
  if (options.cert_file.empty() || options.key_file.empty() || ca_file.empty()) {
    return kExitBadConfig;
  }
  options.listen_address = EnvOr("TOPOS_PCHAT_LISTEN", "127.0.0.1");
  const std::string port_text = EnvOr("TOPOS_PCHAT_PORT", "5041");
  try {
    std::size_t used = 0;
    options.port = std::stoi(port_text, &used);
    if (used != port_text.size() || options.port < 0 || options.port > 65535) throw 0;
  } catch (...) {
    std::cerr << "topos-pchat: TOPOS_PCHAT_PORT=" << port_text
              << " is not a port number (0-65535)\n";
    return kExitBadConfig;
  }
  options.snapshot_file = EnvOr("TOPOS_STORE_SNAPSHOT", "");

  // Signals are taken by one thread with sigwait; every other thread inherits
  // the blocked mask, so none is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = topos::pchat::PchatServer::Create(options);
  if (!server.ok()) {
    std::cerr << "topos-pchat: " << server.status().message() << "\n";
    return server.status().code() == topos::Status::Code::kUnavailable ? 1 : kExitBadConfig;
  }
  topos::pchat::PchatServer& pchat = **server;

  std::thread signal_thread([&pchat, signals] {
    while (true) {
      int signal = 0;
      if (sigwait(&signals, &signal) != 0) continue;
      if (signal == SIGHUP) {
        std::cout << "topos-pchat: reload requested; store snapshot "
                  << (pchat.ReloadSnapshot().ok() ? "re-read" : "unchanged") << std::endl;
        topos::Status reloaded = pchat.ReloadCertificate();
        if (reloaded.ok()) {
          std::cout << "topos-pchat: certificate " << pchat.certificate_serial()
                    << " in use for new connections" << std::endl;
        } else {
          std::cerr << "topos-pchat: keeping certificate " << pchat.certificate_serial() << ": "
                    << reloaded.message() << std::endl;
        }
        continue;
      }
      pchat.Stop();
      return;
    }
  });

  std::cout << "topos-pchat " << TOPOS_PCHAT_VERSION << " listening on https://"
            << options.listen_address << ":" << pchat.port() << " host="
            << (pchat.host_fqdn().empty() ? "-" : pchat.host_fqdn())
            << " config_version=" << pchat.config_version()
            << " certificate=" << pchat.certificate_serial() << std::endl;
  topos::Status served = pchat.Serve();
  // Serve() returned on its own: wake the signal thread so it can end.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  if (!served.ok()) {
    std::cerr << "topos-pchat: " << served.message() << "\n";
    return 1;
  }
  std::cout << "topos-pchat: stopped" << std::endl;
  return 0;
}
