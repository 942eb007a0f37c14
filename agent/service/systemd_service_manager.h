// The systemd back-end: each service is a unit topos-NAME.service that
// systemd runs, restarts and keeps across agent restarts.
#pragma once

#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "agent/process/command_runner.h"
#include "agent/service/service_manager.h"

namespace topos::agent {

// Writes units (systemd_unit.h) to a unit directory and drives systemctl
// through a command runner (argument vectors, never a shell). Tick() does
// nothing: systemd applies the restart policy itself (with a fixed
// RestartSec, not the supervisor's doubling back-off).
//
// Query maps ActiveState: active/reloading → kRunning; failed, or activating
// while waiting to restart → kFailed with last_error from Result and
// ExecMainStatus ("exited with status 1", "gave up after N restarts: ...");
// anything else → kStopped. restarts is systemd's NRestarts.
//
// Thread-safety: every method may be called from any thread; one mutex
// serialises unit file writes and systemctl calls (Stop waits for systemd,
// up to the unit's TimeoutStopSec).
class SystemdServiceManager : public ServiceManager {
 public:
  // Runs one command to completion; RunCommand by default.
  using Runner = std::function<Result<CommandResult>(const CommandSpec&)>;

  explicit SystemdServiceManager(std::filesystem::path unit_dir = "/etc/systemd/system",
                                 Runner runner = {});

  const char* BackendName() const override { return "systemd"; }
  // Writes the unit, `systemctl daemon-reload`, `systemctl restart`.
  // InvalidArgument from RenderUnit; Internal naming the failed command and its output.
  Status Start(const ServiceRunSpec& spec) override;
  // `systemctl stop`; OK when the unit does not exist.
  Status Stop(const std::string& name) override;
  // `systemctl kill --signal=SIG...` (to every process of the unit).
  // FailedPrecondition when the service is not running.
  Status Signal(const std::string& name, int signal) override;
  ServiceState Query(const std::string& name) override;
  // Stops the unit, deletes its file, daemon-reload, reset-failed.
  Status Remove(const std::string& name) override;
  void Tick() override {}

  std::filesystem::path UnitPath(const std::string& name) const;

 private:
  // Runs `systemctl args...`; Internal unless it exits 0 (or with a status in `accepted`).
  Result<CommandResult> Systemctl(const std::vector<std::string>& args,
                                  const std::vector<int>& accepted = {});
  ServiceState QueryLocked(const std::string& name);

  const std::filesystem::path unit_dir_;
  const Runner runner_;
  std::mutex mu_;  // serialises everything below the public methods
};

}  // namespace topos::agent
