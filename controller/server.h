// The running controller: loads state, serves AgentService and AdminService
// on one mutual-TLS port, and shuts down cleanly.
//
// Thread-safety: Start/Shutdown from one thread; everything else inside is
// thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"
#include "controller/setup/data_dir.h"
#include "controller/store/store.h"

namespace topos::controller {

// 100 handshakes per second per core: a mutual-TLS ECDSA P-256 handshake
// and a Hello cost about 5 ms of CPU on the controller.
unsigned DefaultReconnectRate();

struct ServerOptions {
  std::string listen;  // overrides the data directory's listen address if set
  std::chrono::seconds agent_certificate_validity{7 * 24 * 3600};
  // An agent offline past its certificate's expiry may recover its identity
  // for this long after it; later it needs a new token.
  std::chrono::seconds identity_grace{30 * 24 * 3600};
  unsigned worker_threads = 2;
  // Agent handshakes per second this controller can take. At shutdown the
  // connected agents are told to spread their return over connected / rate
  // seconds, so a restart does not bring them all back in the same second.
  unsigned reconnect_rate = DefaultReconnectRate();
  std::chrono::milliseconds report_flush_interval{1000};
};

class ControllerServer {
 public:
  // Starts serving. Fails if the address is taken or the state cannot load.
  static Result<std::unique_ptr<ControllerServer>> Start(DataDir data_dir,
                                                         std::unique_ptr<Store> store,
                                                         const ServerOptions& options);
  ~ControllerServer();  // Shutdown()

  int port() const;
  std::string address() const;  // HOST:PORT agents and toposctl dial
  std::size_t connected_agents() const;
  // Ends agent streams (agents retry), stops serving, flushes reports.
  void Shutdown();
  // Blocks until Shutdown() is called from another thread.
  void Wait();

  struct State;

 private:
  explicit ControllerServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace topos::controller
