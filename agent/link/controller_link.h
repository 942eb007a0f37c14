// The agent's link to the controller: one mutual-TLS Connect stream, opened
// by the agent, kept up for as long as the agent runs.
//
// - Sends Hello (facts) first, then a Heartbeat every interval.
// - Reconnects with exponential back-off and full jitter (cap 30 s), making
//   a new channel each time so the controller's name is resolved anew; after
//   a Goodbye that names a return window, within that window
//   (ReconnectSchedule). (Reusing the channel would not save the TLS
//   context: gRPC 1.51 builds one per subchannel, and re-resolving after a
//   lost connection makes a new subchannel.)
// - Renews its identity certificate at two thirds of its lifetime, less a
//   jitter drawn once per link (so a fleet enrolled at once does not renew
//   at once), or at once when the controller sends RenewIdentity (CA
//   rotation); then reconnects with the new one.
// - When its certificate expired while it was offline, recovers it
//   (RecoverIdentity, proof by the old key) before connecting; retries
//   transient failures with back-off, and stops for good when the
//   controller refuses (past the grace period, revoked, removed).
// - Writes pushed TrustUpdates (CA bundle, CRL) to disk and acknowledges
//   each; Hello says which generation it holds.
// - Applies pushed configuration versions to the local management store
//   (on its own thread) and acknowledges each; Hello says which version the
//   store holds, so the controller can catch it up.
// - Hands deployment steps to the StepRunner and streams their updates
//   back; Hello carries the step journal and heartbeats the services.
// - Stops for good when the controller says this identity is no longer
//   welcome (revoked, host removed): retrying cannot help, a new enrollment
//   can.
//
// Thread-safety: Start/Stop/Wait from the owning thread; the status getters
// from any thread. One background thread runs the loop.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "agent/link/identity_recovery.h"
#include "agent/localstore/local_store.h"
#include "agent/steps/step_runner.h"
#include "agent/state/agent_state.h"
#include "common/status.h"

namespace grpc {
class Channel;
}

namespace topos::v1 {
class StoreUpdate;
class ControllerMessage;
class TrustUpdate;
}

namespace topos::agent {

struct LinkOptions {
  std::chrono::seconds heartbeat_interval{10};
  // Use a connection of our own even if another link in this process dials
  // the same controller (one process simulating many agents).
  bool private_connection = false;
  // Renew when this fraction of the certificate's lifetime has passed.
  double renew_at_fraction = 2.0 / 3.0;
  // Renew that much earlier, at most: the link renews at
  // lifetime × (renew_at_fraction − u), u uniform in [0, this), drawn once.
  double renew_jitter_fraction = 0.1;
  // Runs the deployment steps the controller sends (the agent's
  // StepExecutor, or a stand-in for simulated agents); null: steps are
  // refused. Not owned; must outlive the link.
  StepRunner* steps = nullptr;
  // Called on the link thread after a TrustUpdate was written, with the new
  // bundle and CRL (e.g. to refresh each service's CA file). May be empty.
  std::function<void(const std::string& ca_bundle_pem, const std::string& crl_pem)>
      on_trust_changed;
};

class ControllerLink {
 public:
  ControllerLink(StateDir state_dir, LinkOptions options);
  ~ControllerLink();

  // Loads the identity and starts the loop. Fails if the state directory
  // holds no usable enrollment.
  Status Start();
  // Ends the stream and the loop; idempotent.
  void Stop();
  // Blocks until the loop ends: OK after Stop(), an error if the controller
  // refused this agent for good.
  Status Wait();

  bool connected() const { return connected_.load(); }
  int sessions() const { return sessions_.load(); }          // streams accepted so far
  int renewals() const { return renewals_.load(); }
  int recoveries() const { return recoveries_.load(); }  // expired identities recovered
  int trust_updates_applied() const { return trust_updates_applied_.load(); }
  int updates_applied() const { return updates_applied_.load(); }
  // The local store's applied version; safe from any thread.
  std::uint64_t applied_config_version() const { return applied_version_.load(); }
  // The connection of the accepted stream, for short unary calls to the
  // controller (a certificate request): they need no connection, and no
  // mutual-TLS handshake, of their own. Null while not connected. Safe from
  // any thread.
  std::shared_ptr<grpc::Channel> channel() const;

  class Session;

 private:
  void Run();
  // Runs one stream until it ends. Returns a non-OK status if the refusal is
  // final; sets *accepted if the controller accepted the stream, and
  // *spread to the return window of the controller's Goodbye, if any.
  Status RunSession(bool* accepted, std::chrono::seconds* spread);
  // Renews the certificate if due (or at once with `now`). Returns true if
  // it was renewed.
  bool RenewIfDue(bool now = false);
  // Recovers an expired identity. OK when recovered, or when the controller
  // says it has not expired (its clock differs; mutual TLS will do); sets
  // *final when the controller refused for good (the returned error says
  // why), otherwise a non-OK status means "retry later".
  Status RecoverIdentity(bool* final);
  // Saves a renewed or recovered identity and switches to it.
  bool AdoptIdentity(const std::string& certificate_pem, const std::string& key_pem,
                     const std::string& ca_bundle_pem);
  // Writes a pushed trust bundle and CRL and acknowledges it.
  void ApplyTrust(Session& session, const topos::v1::TrustUpdate& update);
  // Applies a pushed configuration to the local store and acknowledges it.
  void ApplyUpdate(Session& session, const topos::v1::StoreUpdate& update);
  // Hands a RunStep or CancelStep to the step executor, applies a
  // TrustUpdate, or renews at the controller's request. Returns true if the
  // stream must be reconnected (a new certificate).
  bool HandleCommand(Session& session, const topos::v1::ControllerMessage& command);
  bool Sleep(std::chrono::milliseconds duration);  // false if stopping

  StateDir state_dir_;
  const LinkOptions options_;
  AgentState state_;  // owned by the loop thread after Start()
  IdentityValidity validity_;  // of state_.identity's certificate; loop thread
  double renew_jitter_ = 0;  // drawn once in Start()

  std::atomic<bool> connected_{false};
  std::atomic<int> sessions_{0};
  std::atomic<int> renewals_{0};
  std::atomic<int> recoveries_{0};
  std::atomic<int> trust_updates_applied_{0};
  std::atomic<int> updates_applied_{0};
  std::atomic<std::uint64_t> applied_version_{0};
  std::unique_ptr<LocalStore> local_store_;  // owned by the loop thread after Start()

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;                      // guarded by mutex_
  std::shared_ptr<Session> current_;           // guarded by mutex_
  std::shared_ptr<grpc::Channel> channel_;     // guarded by mutex_; current_'s
  Status final_status_;                        // written by the loop before it ends
  std::thread thread_;
};

}  // namespace topos::agent
