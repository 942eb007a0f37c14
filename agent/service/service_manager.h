// Keeps long-running services running. Two back-ends: the built-in
// supervisor (default where no systemd runs, and in tests) and systemd.
// Services outlive the agent: a new agent process adopts what the previous
// one started.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/process/command_runner.h"
#include "common/signal_names.h"
#include "common/status.h"

namespace topos::agent {

enum class RestartMode { kNever, kOnFailure, kAlways };

struct ServiceRunSpec {
  std::string name;                   // e.g. "topos-pchat"; [a-z0-9][a-z0-9-]* (checked)
  std::string version;
  CommandSpec command;                // argv, env, working_dir, run_as (timeout unused)
  int stop_signal = 15;               // SIGTERM
  std::chrono::seconds stop_timeout{10};  // then SIGKILL to the process group
  RestartMode restart = RestartMode::kOnFailure;
  std::uint32_t max_restarts = 5;     // consecutive restarts before giving up (state kFailed)
  std::chrono::seconds restart_backoff{1};  // doubled per consecutive restart, capped at 60 s
  std::filesystem::path log_file;     // stdout+stderr appended here
};

struct ServiceState {
  enum class Phase { kStopped, kRunning, kFailed };
  Phase phase = Phase::kStopped;
  pid_t pid = 0;                      // kRunning
  std::uint32_t restarts = 0;         // restarts since the last Start
  std::string version;
  std::string last_error;             // kFailed: why ("exited with status 1", "gave up after 5 restarts")
};

const char* PhaseName(ServiceState::Phase phase);  // "stopped", "running", "failed"

class ServiceManager {
 public:
  virtual ~ServiceManager() = default;
  virtual const char* BackendName() const = 0;  // "supervisor" or "systemd"
  // Starts the service; if it is already running it is stopped first (a new
  // spec replaces the old). Returns once the process is spawned.
  virtual Status Start(const ServiceRunSpec& spec) = 0;
  // Stops with the spec's signal and timeout, then SIGKILL. Stopping a
  // stopped or unknown service is OK. Restart policy no longer applies.
  virtual Status Stop(const std::string& name) = 0;
  // Sends `signal` to the running service (for reload). FailedPrecondition if not running.
  virtual Status Signal(const std::string& name, int signal) = 0;
  virtual ServiceState Query(const std::string& name) = 0;
  // Forgets the service entirely (after Stop): pid files / unit files removed.
  virtual Status Remove(const std::string& name) = 0;
  // Takes over a service that a previous agent process started, after an
  // agent restart. Never starts or restarts anything: afterwards Query reports
  // kRunning if that very process still runs (the supervisor checks the pid
  // and the process start time, so a reused pid is not adopted), else
  // kStopped, and the caller decides whether to Start. `spec` is what a later
  // automatic restart will run. Back-ends whose services are kept by the OS
  // (systemd) need nothing and return OK. InvalidArgument for a bad name.
  virtual Status Adopt(const ServiceRunSpec& spec) { return Status::Ok(); }
  // Called about once a second by the agent: reaps exited children and applies
  // restart policies. Cheap when nothing changed.
  virtual void Tick() = 0;
};

enum class ServiceManagerKind { kAuto, kSystemd, kSupervisor };

// Parses "auto", "systemd" or "supervisor".
Result<ServiceManagerKind> ParseServiceManagerKind(const std::string& text);

// `state_dir` is the agent's STATE_DIR: the supervisor keeps its pid files
// (and default logs) in STATE_DIR/supervisor/. The systemd back-end writes
// its units to /etc/systemd/system (tests construct SystemdServiceManager
// with another unit directory). kAuto picks systemd when /run/systemd/system
// exists and we are root, else the supervisor. InvalidArgument when systemd
// is asked for but not running.
Result<std::unique_ptr<ServiceManager>> MakeServiceManager(ServiceManagerKind kind,
                                                           const std::filesystem::path& state_dir);

// Signal names (ParseSignalName, SignalName) are common/signal_names.h's,
// shared with the controller's topology validator.
using topos::ParseSignalName;
using topos::SignalName;

// OK when `name` is a valid service name: [a-z0-9][a-z0-9-]{0,62}; else
// InvalidArgument naming it and the rule.
Status ValidateServiceName(const std::string& name);

}  // namespace topos::agent
