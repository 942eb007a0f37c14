// The built-in supervisor: runs each service as a detached process group,
// remembers it in a pid file so that the next agent process can adopt it, and
// restarts it by its policy when Tick() finds it dead.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "agent/service/service_manager.h"

namespace topos::agent {

// State on disk: STATE_DIR/<name>.pid per running service, a small
// "key=value" text file (pid, start_time, version, restarts) replaced
// atomically. The run spec is kept in memory only; after an agent restart the
// caller passes it again with Adopt (or Start).
//
// Liveness: a child this object spawned is reaped with waitpid, which yields
// its exit status; an adopted process is alive while /proc/PID exists, is not
// a zombie and has the recorded start time (so a reused pid is never taken
// for the service, nor signalled).
//
// Restart policy (applied by Tick, which never sleeps): kNever and a clean
// exit under kOnFailure leave the service kStopped (exit 0) or kFailed (any
// other end, last_error "exited with status 1"). Otherwise the n-th
// consecutive restart is due restart_backoff * 2^(n-1) (at most 60 s) after
// the death; meanwhile Query reports kFailed with last_error saying when the
// restart comes. After max_restarts consecutive restarts the next death is
// final: kFailed, "gave up after N restarts: <last exit>". The consecutive
// count resets once the service has stayed up for 60 s. When the main
// process dies, what is left of its process group is SIGKILLed.
//
// Thread-safety: every method may be called from any thread; one mutex
// guards all state. Stop, Start (of a running service) and Remove hold it
// while waiting for the process group to exit, up to stop_timeout plus a few
// seconds, so other calls wait meanwhile. Destroying the object leaves the
// services running.
class SupervisorServiceManager : public ServiceManager {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  static constexpr std::chrono::seconds kMaxBackoff{60};
  static constexpr std::chrono::seconds kStableAfter{60};

  // `state_dir` is created when the first service starts. `clock` (default:
  // steady_clock::now) times back-off and the 60 s stability rule; waiting
  // for a stopping process uses real time.
  explicit SupervisorServiceManager(std::filesystem::path state_dir, Clock clock = {});
  ~SupervisorServiceManager() override = default;

  SupervisorServiceManager(const SupervisorServiceManager&) = delete;
  SupervisorServiceManager& operator=(const SupervisorServiceManager&) = delete;

  const char* BackendName() const override { return "supervisor"; }
  // InvalidArgument for a bad name, empty argv, a newline in the version or a
  // bad stop signal; spawn errors as SpawnDetached returns them (the service
  // is then kFailed). An instance recorded in the pid file by an earlier
  // agent is stopped first too. An empty log_file means STATE_DIR/<name>.log.
  Status Start(const ServiceRunSpec& spec) override;
  Status Adopt(const ServiceRunSpec& spec) override;
  Status Stop(const std::string& name) override;
  Status Signal(const std::string& name, int signal) override;
  // Unknown services are kStopped. Reflects the last Tick (deaths are noticed there).
  ServiceState Query(const std::string& name) override;
  Status Remove(const std::string& name) override;
  void Tick() override;

  // The pid file of `name`.
  std::filesystem::path PidFile(const std::string& name) const;

 private:
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Service {
    ServiceRunSpec spec;
    ServiceState::Phase phase = ServiceState::Phase::kStopped;
    pid_t pid = 0;                  // kRunning: the main process = its process group
    std::uint64_t start_time = 0;   // of pid, from /proc/PID/stat
    bool our_child = false;         // spawned by this object: reap with waitpid
    std::string version;            // of the running (or last run) instance
    std::uint32_t restarts = 0;     // since the last Start
    std::uint32_t consecutive = 0;  // restarts without 60 s of uptime between them
    TimePoint up_since{};
    std::optional<TimePoint> restart_at;  // a restart is due then
    std::string last_error;
  };

  // What the pid file says.
  struct PidRecord {
    pid_t pid = 0;
    std::uint64_t start_time = 0;
    std::string version;
    std::uint32_t restarts = 0;
  };

  TimePoint Now() const;
  Result<PidRecord> ReadPidFile(const std::string& name) const;
  Status WritePidFile(const Service& service) const;
  void RemovePidFile(const std::string& name) const;

  // Spawns the spec and records the process (phase kRunning, pid file).
  Status SpawnLocked(Service& service);
  // Signals the group with the stop signal, waits up to stop_timeout, then
  // SIGKILLs it; afterwards no member of the group is alive (or, after a
  // further grace, we gave up waiting and logged it). Leaves pid == 0.
  void TerminateLocked(Service& service);
  // Stops an instance known only from the pid file (an earlier agent's).
  void TerminateRecordedLocked(const std::string& name, const ServiceRunSpec& spec);
  // True while the main process runs; when it has ended, false with a
  // description of the end ("exited with status 1") and whether it was clean.
  bool CheckAliveLocked(Service& service, std::string* how, bool* clean);
  // Applies the restart policy to a service whose main process ended.
  void OnDeathLocked(Service& service, const std::string& how, bool clean, TimePoint now);

  const std::filesystem::path state_dir_;
  const Clock clock_;

  std::mutex mu_;
  std::map<std::string, Service> services_;  // guarded by mu_
};

}  // namespace topos::agent
