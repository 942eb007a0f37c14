#include "controller/hub/agent_hub.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

namespace topos::controller {

Status AgentHub::Attach(const std::string& fqdn, AgentConnection* connection,
                        std::chrono::system_clock::time_point now) {
  bool refused = false;
  {
    std::lock_guard lock(mutex_);
    Entry entry;
    entry.connection = connection;
    entry.last_seen = now;
    auto [it, inserted] = live_.try_emplace(fqdn, entry);
    if (inserted) {
      gone_.erase(fqdn);
    } else {
      refused = true;
    }
  }
  HostReport report{fqdn, now, std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt};
  if (refused) {
    spdlog::warn("host={} refused a second connection with the same identity while the first "
                 "is live (cloned machine or copied state directory?)", fqdn);
    // Persisted, and shown by `hosts show`, so a clone stays visible after a
    // controller restart too.
    report.refused_duplicates = 1;
    reports_.Queue(std::move(report));
    return Status::AlreadyExists("host " + fqdn +
                                 " is already connected with this identity; a second live "
                                 "connection is refused (is this a cloned machine?)");
  }
  reports_.Queue(std::move(report));
  return Status::Ok();
}

void AgentHub::Detach(const std::string& fqdn, AgentConnection* connection,
                      std::chrono::system_clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = live_.find(fqdn);
  if (it == live_.end() || it->second.connection != connection) return;
  gone_[fqdn] = it->second.last_seen;
  live_.erase(it);
}

void AgentHub::RecordHello(const std::string& fqdn, std::chrono::seconds heartbeat_interval,
                           std::string agent_version, std::string facts,
                           std::uint64_t config_version, std::string services,
                           const std::vector<topos::v1::StepUpdate>& journal,
                           std::chrono::system_clock::time_point now) {
  {
    std::lock_guard lock(mutex_);
    auto it = live_.find(fqdn);
    if (it == live_.end()) return;
    it->second.last_seen = now;
    it->second.heartbeat_interval = heartbeat_interval;
    it->second.applied_config_version = config_version;
  }
  HostReport report{fqdn, now, std::move(agent_version), std::move(facts), config_version, 0,
                    std::nullopt};
  report.services = std::move(services);
  reports_.Queue(std::move(report));
  if (hello_listener_) hello_listener_(fqdn, config_version);
  if (journal_listener_) journal_listener_(fqdn, journal);
}

void AgentHub::RecordStepUpdate(const std::string& fqdn, const topos::v1::StepUpdate& update) {
  if (step_listener_) step_listener_(fqdn, update);
}

void AgentHub::RecordStoreApplied(const std::string& fqdn, std::uint64_t version, bool ok,
                                  const std::string& error,
                                  std::chrono::system_clock::time_point now) {
  if (!ok) {
    spdlog::warn("host={} refused a local store update (it holds version {}): {}", fqdn, version,
                 error);
    if (refused_listener_) refused_listener_(fqdn);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    auto it = live_.find(fqdn);
    if (it == live_.end()) return;
    it->second.last_seen = now;
    if (it->second.applied_config_version != version) it->second.config_applied_at = now;
    it->second.applied_config_version = version;
  }
  reports_.Queue(HostReport{fqdn, now, std::nullopt, std::nullopt, version, 0, std::nullopt});
}

bool AgentHub::Send(const std::string& fqdn, topos::v1::ControllerMessage message) {
  std::lock_guard lock(mutex_);
  auto it = live_.find(fqdn);
  if (it == live_.end()) return false;
  it->second.connection->Send(std::move(message));
  return true;
}

std::vector<std::string> AgentHub::ConnectedHosts() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> hosts;
  hosts.reserve(live_.size());
  for (const auto& [fqdn, entry] : live_) hosts.push_back(fqdn);
  return hosts;
}

void AgentHub::RecordHeartbeat(const std::string& fqdn, std::chrono::system_clock::time_point now,
                               std::optional<std::string> services) {
  {
    std::lock_guard lock(mutex_);
    auto it = live_.find(fqdn);
    if (it == live_.end()) return;
    it->second.last_seen = now;
  }
  HostReport report{fqdn, now, std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt};
  report.services = std::move(services);
  reports_.Queue(std::move(report));
}

std::uint32_t ReturnWindow(std::size_t agents, unsigned handshakes_per_second) {
  std::size_t rate = std::max(1u, handshakes_per_second);
  std::size_t window = (agents + rate - 1) / rate;
  return static_cast<std::uint32_t>(std::clamp<std::size_t>(window, 1, 600));
}

void AgentHub::Disconnect(const std::string& fqdn, const std::string& reason, bool retry) {
  std::lock_guard lock(mutex_);
  auto it = live_.find(fqdn);
  // Close() only queues a message and a finish: safe under our lock.
  if (it != live_.end()) it->second.connection->Close(reason, retry ? 1 : 0);
}

void AgentHub::DisconnectAll(const std::string& reason, unsigned handshakes_per_second) {
  std::lock_guard lock(mutex_);
  std::uint32_t window = ReturnWindow(live_.size(), handshakes_per_second);
  for (auto& [fqdn, entry] : live_) entry.connection->Close(reason, window);
}

LiveState AgentHub::Live(const std::string& fqdn) const {
  std::lock_guard lock(mutex_);
  LiveState state;
  if (auto it = live_.find(fqdn); it != live_.end()) {
    state.connected = true;
    state.last_seen = it->second.last_seen;
    state.heartbeat_interval = it->second.heartbeat_interval;
    state.applied_config_version = it->second.applied_config_version;
    state.config_applied_at = it->second.config_applied_at;
  } else if (auto gone = gone_.find(fqdn); gone != gone_.end()) {
    state.last_seen = gone->second;
  }
  return state;
}

std::size_t AgentHub::connected_count() const {
  std::lock_guard lock(mutex_);
  return live_.size();
}

}  // namespace topos::controller
