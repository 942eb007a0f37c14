// The registry of live agent streams: who is connected, when each was last
// heard from, and a way to cut a stream (host removed, certificate revoked).
//
// Thread-safety: every method is safe from any thread; state is guarded by
// one mutex and no method blocks on disk or network while holding it.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <vector>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "controller/hub/report_writer.h"
#include "topos/v1/agent.pb.h"

namespace topos::controller {

// What the hub needs from a stream: a way to end it. Implemented by
// AgentStream; Close() must be safe from any thread and idempotent.
class AgentConnection {
 public:
  virtual ~AgentConnection() = default;
  // Says goodbye and ends the stream. `retry_after_seconds`: 0 tells the
  // agent not to come back; otherwise the window to spread its return over.
  virtual void Close(const std::string& reason, std::uint32_t retry_after_seconds) = 0;
  // Queues a message to the agent; safe from any thread; dropped if the
  // stream is ending.
  virtual void Send(topos::v1::ControllerMessage message) = 0;
};

// The window, in seconds, over which `agents` told to come back should
// spread their return so a controller taking `handshakes_per_second` is not
// flooded: ceil(agents / rate), at least 1 (0 means "do not retry" on the
// wire), at most 600. A rate of 0 counts as 1.
std::uint32_t ReturnWindow(std::size_t agents, unsigned handshakes_per_second);

struct LiveState {
  bool connected = false;
  std::optional<std::chrono::system_clock::time_point> last_seen;
  std::chrono::seconds heartbeat_interval{10};
  std::uint64_t applied_config_version = 0;  // reported on this stream
  std::optional<std::chrono::system_clock::time_point> config_applied_at;
};

class AgentHub {
 public:
  explicit AgentHub(ReportWriter& reports) : reports_(reports) {}

  // Registers a new stream for `fqdn`. AlreadyExists if another stream with
  // this identity is live: the first keeps running and the refusal is
  // logged, so a cloned VM cannot silently take over a host.
  Status Attach(const std::string& fqdn, AgentConnection* connection,
                std::chrono::system_clock::time_point now);
  // Removes `connection` if it is still the one registered for `fqdn`.
  void Detach(const std::string& fqdn, AgentConnection* connection,
              std::chrono::system_clock::time_point now);

  // `services` is a serialized topos.v1.StoredServiceReports; `journal` the
  // agent's recent step outcomes.
  void RecordHello(const std::string& fqdn, std::chrono::seconds heartbeat_interval,
                   std::string agent_version, std::string facts, std::uint64_t config_version,
                   std::string services, const std::vector<topos::v1::StepUpdate>& journal,
                   std::chrono::system_clock::time_point now);
  void RecordStepUpdate(const std::string& fqdn, const topos::v1::StepUpdate& update);
  // Step updates and Hello journals go here (outside the lock). Set once,
  // before the server starts.
  void SetStepListeners(
      std::function<void(const std::string&, const topos::v1::StepUpdate&)> on_update,
      std::function<void(const std::string&, const std::vector<topos::v1::StepUpdate>&)> on_journal) {
    step_listener_ = std::move(on_update);
    journal_listener_ = std::move(on_journal);
  }
  void RecordStoreApplied(const std::string& fqdn, std::uint64_t version, bool ok,
                          const std::string& error, std::chrono::system_clock::time_point now);
  // Called (outside the hub's lock) after every Hello with the version the
  // agent's local store holds, so replication can catch the host up. Set
  // once, before the server starts.
  void SetHelloListener(std::function<void(const std::string& fqdn, std::uint64_t version)> f) {
    hello_listener_ = std::move(f);
  }
  // Called (outside the lock) when a host refuses a store update. Set once,
  // before the server starts.
  void SetRefusedListener(std::function<void(const std::string& fqdn)> f) {
    refused_listener_ = std::move(f);
  }

  // Hello's trust generation and every TrustApplied go here (outside the
  // lock), for the TrustPublisher. Set once, before the server starts.
  void SetTrustListeners(
      std::function<void(const std::string&, const std::string&)> on_hello,
      std::function<void(const std::string&, const topos::v1::TrustApplied&)> on_applied) {
    trust_hello_listener_ = std::move(on_hello);
    trust_applied_listener_ = std::move(on_applied);
  }
  void RecordTrustHello(const std::string& fqdn, const std::string& generation) {
    if (trust_hello_listener_) trust_hello_listener_(fqdn, generation);
  }
  void RecordTrustApplied(const std::string& fqdn, const topos::v1::TrustApplied& applied) {
    if (trust_applied_listener_) trust_applied_listener_(fqdn, applied);
  }

  // Sends `message` to `fqdn` if it is connected; false otherwise.
  bool Send(const std::string& fqdn, topos::v1::ControllerMessage message);
  std::vector<std::string> ConnectedHosts() const;
  // `services`: serialized topos.v1.StoredServiceReports when the heartbeat carried any.
  void RecordHeartbeat(const std::string& fqdn, std::chrono::system_clock::time_point now,
                       std::optional<std::string> services = std::nullopt);

  // Ends the live stream of `fqdn`, if any, telling the agent why.
  void Disconnect(const std::string& fqdn, const std::string& reason, bool retry);
  // Ends every stream (controller shutdown); agents retry, told to spread
  // their return over ReturnWindow(connected, handshakes_per_second).
  void DisconnectAll(const std::string& reason, unsigned handshakes_per_second);

  LiveState Live(const std::string& fqdn) const;
  std::size_t connected_count() const;

 private:
  struct Entry {
    AgentConnection* connection = nullptr;
    std::chrono::system_clock::time_point last_seen;
    std::chrono::seconds heartbeat_interval{10};
    std::uint64_t applied_config_version = 0;
    std::optional<std::chrono::system_clock::time_point> config_applied_at;
  };

  ReportWriter& reports_;
  std::function<void(const std::string&, std::uint64_t)> hello_listener_;  // set before start
  std::function<void(const std::string&)> refused_listener_;              // set before start
  std::function<void(const std::string&, const topos::v1::StepUpdate&)> step_listener_;  // same
  std::function<void(const std::string&, const std::vector<topos::v1::StepUpdate>&)>
      journal_listener_;  // set before start
  std::function<void(const std::string&, const std::string&)> trust_hello_listener_;  // same
  std::function<void(const std::string&, const topos::v1::TrustApplied&)>
      trust_applied_listener_;  // set before start
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> live_;  // guarded by mutex_
  // Last contact of hosts whose stream has ended, until they come back.
  std::unordered_map<std::string, std::chrono::system_clock::time_point> gone_;  // guarded
};

}  // namespace topos::controller
