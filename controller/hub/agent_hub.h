// The registry of live agent streams: who is connected, when each was last
// heard from, and a way to cut a stream (host removed, certificate revoked).
//
// Thread-safety: every method is safe from any thread; state is guarded by
// one mutex and no method blocks on disk or network while holding it.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "controller/hub/report_writer.h"

namespace topos::controller {

// What the hub needs from a stream: a way to end it. Implemented by
// AgentStream; Close() must be safe from any thread and idempotent.
class AgentConnection {
 public:
  virtual ~AgentConnection() = default;
  virtual void Close(const std::string& reason, bool retry) = 0;
};

struct LiveState {
  bool connected = false;
  std::optional<std::chrono::system_clock::time_point> last_seen;
  std::chrono::seconds heartbeat_interval{10};
  int refused_duplicates = 0;  // since the controller started
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

  void RecordHello(const std::string& fqdn, std::chrono::seconds heartbeat_interval,
                   std::string agent_version, std::string facts,
                   std::chrono::system_clock::time_point now);
  void RecordHeartbeat(const std::string& fqdn, std::chrono::system_clock::time_point now);

  // Ends the live stream of `fqdn`, if any, telling the agent why.
  void Disconnect(const std::string& fqdn, const std::string& reason, bool retry);
  // Ends every stream (controller shutdown); agents retry.
  void DisconnectAll(const std::string& reason);

  LiveState Live(const std::string& fqdn) const;
  std::size_t connected_count() const;

 private:
  struct Entry {
    AgentConnection* connection = nullptr;
    std::chrono::system_clock::time_point last_seen;
    std::chrono::seconds heartbeat_interval{10};
  };

  ReportWriter& reports_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> live_;  // guarded by mutex_
  // Last contact of hosts whose stream has ended, until they come back.
  std::unordered_map<std::string, std::chrono::system_clock::time_point> gone_;  // guarded
  std::unordered_map<std::string, int> refused_duplicates_;                     // guarded
};

}  // namespace topos::controller
