#include "agent/service/supervisor_service_manager.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include "agent/process/command_runner.h"
#include "agent/service/proc_probe.h"

namespace topos::agent {
namespace {

using Phase = ServiceState::Phase;

constexpr std::chrono::milliseconds kPollInterval{20};
constexpr std::chrono::seconds kKillGrace{5};  // after SIGKILL, how long we wait for the group

std::string DescribeWaitStatus(int status, bool* clean) {
  if (WIFEXITED(status)) {
    *clean = WEXITSTATUS(status) == 0;
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  *clean = false;
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           SignalName(WTERMSIG(status)) + ")";
  }
  return "ended with wait status " + std::to_string(status);
}

std::string FormatDelay(std::chrono::milliseconds delay) {
  if (delay.count() % 1000 == 0) return std::to_string(delay.count() / 1000) + " s";
  return std::to_string(delay.count()) + " ms";
}

Status ValidateSpec(const ServiceRunSpec& spec) {
  TOPOS_RETURN_IF_ERROR(ValidateServiceName(spec.name));
  if (spec.command.argv.empty() || spec.command.argv[0].empty()) {
    return Status::InvalidArgument("service " + spec.name + ": the command is empty");
  }
  if (spec.version.find_first_of("\n\r") != std::string::npos) {
    return Status::InvalidArgument("service " + spec.name + ": the version contains a newline");
  }
  if (spec.stop_signal <= 0 || spec.stop_signal >= NSIG) {
    return Status::InvalidArgument("service " + spec.name + ": invalid stop signal " +
                                   std::to_string(spec.stop_signal));
  }
  return Status::Ok();
}

}  // namespace

SupervisorServiceManager::SupervisorServiceManager(std::filesystem::path state_dir, Clock clock)
    : state_dir_(std::move(state_dir)),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {}

SupervisorServiceManager::TimePoint SupervisorServiceManager::Now() const { return clock_(); }

std::filesystem::path SupervisorServiceManager::PidFile(const std::string& name) const {
  return state_dir_ / (name + ".pid");
}

Result<SupervisorServiceManager::PidRecord> SupervisorServiceManager::ReadPidFile(
    const std::string& name) const {
  const std::filesystem::path path = PidFile(name);
  std::ifstream in(path);
  if (!in) return Status::NotFound("no pid file " + path.string());
  PidRecord record;
  std::string line;
  try {
    while (std::getline(in, line)) {
      const std::size_t eq = line.find('=');
      if (eq == std::string::npos) continue;
      const std::string key = line.substr(0, eq);
      const std::string value = line.substr(eq + 1);
      if (key == "pid") record.pid = static_cast<pid_t>(std::stol(value));
      if (key == "start_time") record.start_time = std::stoull(value);
      if (key == "version") record.version = value;
      if (key == "restarts") record.restarts = static_cast<std::uint32_t>(std::stoul(value));
    }
  } catch (const std::exception&) {
    return Status::InvalidArgument("malformed pid file " + path.string() + ": \"" + line + "\"");
  }
  if (record.pid <= 0) return Status::InvalidArgument("pid file " + path.string() + " names no pid");
  return record;
}

Status SupervisorServiceManager::WritePidFile(const Service& service) const {
  const std::filesystem::path path = PidFile(service.spec.name);
  std::filesystem::path temp = path;
  temp += ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << "pid=" << service.pid << "\n"
        << "start_time=" << service.start_time << "\n"
        << "version=" << service.version << "\n"
        << "restarts=" << service.restarts << "\n";
    out.flush();
    if (!out) return Status::Internal("cannot write " + temp.string());
  }
  std::error_code error;
  std::filesystem::rename(temp, path, error);
  if (error) {
    return Status::Internal("cannot rename " + temp.string() + " to " + path.string() + ": " +
                            error.message());
  }
  return Status::Ok();
}

void SupervisorServiceManager::RemovePidFile(const std::string& name) const {
  std::error_code error;
  std::filesystem::remove(PidFile(name), error);
  if (error) spdlog::warn("cannot remove {}: {}", PidFile(name).string(), error.message());
}

Status SupervisorServiceManager::SpawnLocked(Service& service) {
  const ServiceRunSpec& spec = service.spec;
  std::error_code error;
  std::filesystem::create_directories(state_dir_, error);
  if (error) {
    return Status::Internal("cannot create the supervisor state directory " +
                            state_dir_.string() + ": " + error.message());
  }
  const std::filesystem::path log_file =
      spec.log_file.empty() ? state_dir_ / (spec.name + ".log") : spec.log_file;
  Result<pid_t> pid = SpawnDetached(spec.command, log_file);
  if (!pid.ok()) return pid.status().WithContext("service " + spec.name);

  std::optional<ProcStat> stat = ReadProcStat(*pid);  // a child stays readable, even as a zombie
  service.pid = *pid;
  service.start_time = stat ? stat->start_time : 0;
  service.our_child = true;
  service.phase = Phase::kRunning;
  service.version = spec.version;
  service.up_since = Now();
  service.last_error.clear();
  Status written = WritePidFile(service);
  if (!written.ok()) {
    // An instance the next agent could not find must not run.
    kill(-service.pid, SIGKILL);
    waitpid(service.pid, nullptr, 0);
    service.pid = 0;
    service.our_child = false;
    service.phase = Phase::kFailed;
    return written.WithContext("service " + spec.name);
  }
  spdlog::info("service {} {} started, pid {}", spec.name, spec.version, service.pid);
  return Status::Ok();
}

void SupervisorServiceManager::TerminateLocked(Service& service) {
  service.restart_at.reset();
  if (service.pid <= 0) return;
  const pid_t pgid = service.pid;
  const std::string& name = service.spec.name;
  // The group is ours unless its pid now names another process (reused).
  std::optional<ProcStat> leader = ReadProcStat(pgid);
  if (!service.our_child && leader && leader->start_time != service.start_time) {
    spdlog::warn("service {}: pid {} now belongs to another process; not signalling it", name,
                 pgid);
    service.pid = 0;
    return;
  }

  bool leader_reaped = !service.our_child;
  auto reap = [&] {
    if (leader_reaped) return;
    int status = 0;
    const pid_t r = waitpid(pgid, &status, WNOHANG);
    if (r == pgid || (r < 0 && errno == ECHILD)) leader_reaped = true;
  };
  auto wait_gone = [&](std::chrono::steady_clock::duration limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      reap();
      if (!GroupHasLiveMembers(pgid)) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(kPollInterval);
    }
  };

  kill(-pgid, service.spec.stop_signal);
  bool gone = wait_gone(service.spec.stop_timeout);
  if (!gone) {
    spdlog::warn("service {} did not stop within {} s of {}; sending SIGKILL", name,
                 service.spec.stop_timeout.count(), SignalName(service.spec.stop_signal));
    kill(-pgid, SIGKILL);
    gone = wait_gone(kKillGrace);
    if (!gone) spdlog::error("service {}: process group {} survives SIGKILL", name, pgid);
  }
  if (gone && !leader_reaped) waitpid(pgid, nullptr, 0);  // a zombie by now: returns at once
  service.pid = 0;
  service.our_child = false;
}

void SupervisorServiceManager::TerminateRecordedLocked(const std::string& name,
                                                       const ServiceRunSpec& spec) {
  Result<PidRecord> record = ReadPidFile(name);
  if (!record.ok()) return;
  if (!IsSameLiveProcess(record->pid, record->start_time)) return;
  Service earlier;
  earlier.spec = spec;
  earlier.spec.name = name;
  earlier.pid = record->pid;
  earlier.start_time = record->start_time;
  spdlog::info("service {}: stopping pid {} started by an earlier agent", name, record->pid);
  TerminateLocked(earlier);
}

bool SupervisorServiceManager::CheckAliveLocked(Service& service, std::string* how, bool* clean) {
  if (service.our_child) {
    int status = 0;
    const pid_t r = waitpid(service.pid, &status, WNOHANG);
    if (r == 0) return true;
    if (r == service.pid) {
      service.our_child = false;
      *how = DescribeWaitStatus(status, clean);
      return false;
    }
    service.our_child = false;  // not (or no longer) waitable: judge by /proc
  }
  if (IsSameLiveProcess(service.pid, service.start_time)) return true;
  *clean = false;
  *how = "exited (status unknown: the agent did not start this instance)";
  return false;
}

void SupervisorServiceManager::OnDeathLocked(Service& service, const std::string& how, bool clean,
                                             TimePoint now) {
  const ServiceRunSpec& spec = service.spec;
  service.pid = 0;
  service.our_child = false;
  const bool restart = spec.restart == RestartMode::kAlways ||
                       (spec.restart == RestartMode::kOnFailure && !clean);
  if (!restart) {
    service.phase = clean ? Phase::kStopped : Phase::kFailed;
    service.last_error = clean ? "" : how;
    RemovePidFile(spec.name);
    spdlog::warn("service {} {}; not restarting it", spec.name, how);
    return;
  }
  if (service.consecutive >= spec.max_restarts) {
    service.phase = Phase::kFailed;
    service.last_error = "gave up after " + std::to_string(spec.max_restarts) + " restarts: " + how;
    RemovePidFile(spec.name);
    spdlog::error("service {}: {}", spec.name, service.last_error);
    return;
  }
  ++service.consecutive;
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(spec.restart_backoff);
  for (std::uint32_t i = 1; i < service.consecutive && delay < kMaxBackoff; ++i) delay *= 2;
  delay = std::min<std::chrono::milliseconds>(delay, kMaxBackoff);
  service.restart_at = now + delay;
  service.phase = Phase::kFailed;
  service.last_error = how + "; restart " + std::to_string(service.consecutive) + " of " +
                       std::to_string(spec.max_restarts) + " in " + FormatDelay(delay);
  spdlog::warn("service {} {}", spec.name, service.last_error);
}

Status SupervisorServiceManager::Start(const ServiceRunSpec& spec) {
  TOPOS_RETURN_IF_ERROR(ValidateSpec(spec));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = services_.find(spec.name);
  if (it != services_.end()) {
    TerminateLocked(it->second);
  } else {
    TerminateRecordedLocked(spec.name, spec);
  }
  Service& service = services_[spec.name];
  service = Service{};
  service.spec = spec;
  service.version = spec.version;
  Status started = SpawnLocked(service);
  if (!started.ok()) {
    service.phase = Phase::kFailed;
    service.last_error = "start failed: " + started.message();
    RemovePidFile(spec.name);
  }
  return started;
}

Status SupervisorServiceManager::Adopt(const ServiceRunSpec& spec) {
  TOPOS_RETURN_IF_ERROR(ValidateSpec(spec));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = services_.find(spec.name);
  if (it != services_.end() && (it->second.phase == Phase::kRunning || it->second.restart_at)) {
    it->second.spec = spec;  // already ours: only the spec for later restarts changes
    return Status::Ok();
  }
  Service service;
  service.spec = spec;
  service.version = spec.version;
  Result<PidRecord> record = ReadPidFile(spec.name);
  if (record.ok() && IsSameLiveProcess(record->pid, record->start_time)) {
    service.pid = record->pid;
    service.start_time = record->start_time;
    service.phase = Phase::kRunning;
    service.version = record->version;
    service.restarts = record->restarts;
    service.up_since = Now();
    spdlog::info("service {} {}: adopted pid {}", spec.name, record->version, record->pid);
  } else if (record.ok() || record.status().code() != Status::Code::kNotFound) {
    spdlog::info("service {}: the recorded instance is gone ({}); it is stopped", spec.name,
                 record.ok() ? "pid " + std::to_string(record->pid) : record.status().message());
    RemovePidFile(spec.name);
  }
  services_[spec.name] = std::move(service);
  return Status::Ok();
}

Status SupervisorServiceManager::Stop(const std::string& name) {
  TOPOS_RETURN_IF_ERROR(ValidateServiceName(name));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = services_.find(name);
  if (it == services_.end()) {
    TerminateRecordedLocked(name, ServiceRunSpec{});
  } else {
    Service& service = it->second;
    TerminateLocked(service);
    service.phase = Phase::kStopped;
    service.consecutive = 0;
    service.last_error.clear();
  }
  RemovePidFile(name);
  return Status::Ok();
}

Status SupervisorServiceManager::Signal(const std::string& name, int signal) {
  TOPOS_RETURN_IF_ERROR(ValidateServiceName(name));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = services_.find(name);
  if (it == services_.end() || it->second.phase != Phase::kRunning) {
    return Status::FailedPrecondition("service " + name + " is not running");
  }
  Service& service = it->second;
  if (!service.our_child && !IsSameLiveProcess(service.pid, service.start_time)) {
    return Status::FailedPrecondition("service " + name + " is no longer running");
  }
  if (kill(-service.pid, signal) != 0) {
    return Status::Internal("cannot send " + SignalName(signal) + " to service " + name +
                            " (process group " + std::to_string(service.pid) +
                            "): " + std::strerror(errno));
  }
  return Status::Ok();
}

ServiceState SupervisorServiceManager::Query(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  ServiceState state;
  auto it = services_.find(name);
  if (it == services_.end()) return state;
  const Service& service = it->second;
  state.phase = service.phase;
  state.pid = service.phase == Phase::kRunning ? service.pid : 0;
  state.restarts = service.restarts;
  state.version = service.version;
  state.last_error = service.last_error;
  return state;
}

Status SupervisorServiceManager::Remove(const std::string& name) {
  TOPOS_RETURN_IF_ERROR(ValidateServiceName(name));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = services_.find(name);
  if (it == services_.end()) {
    TerminateRecordedLocked(name, ServiceRunSpec{});
  } else {
    TerminateLocked(it->second);
    services_.erase(it);
  }
  RemovePidFile(name);
  return Status::Ok();
}

void SupervisorServiceManager::Tick() {
  std::lock_guard<std::mutex> lock(mu_);
  const TimePoint now = Now();
  for (auto& [name, service] : services_) {
    if (service.phase == Phase::kRunning) {
      std::string how;
      bool clean = false;
      const pid_t pgid = service.pid;
      const std::uint64_t start_time = service.start_time;
      if (CheckAliveLocked(service, &how, &clean)) {
        if (service.consecutive > 0 && now - service.up_since >= kStableAfter) {
          service.consecutive = 0;
        }
        continue;
      }
      // What is left of the group goes too, unless the pid now names a
      // different process (then the group id may be someone else's).
      std::optional<ProcStat> at_pid = ReadProcStat(pgid);
      if ((!at_pid || at_pid->start_time == start_time) && GroupHasLiveMembers(pgid)) {
        kill(-pgid, SIGKILL);
      }
      OnDeathLocked(service, how, clean, now);
    }
    while (service.restart_at && now >= *service.restart_at) {
      service.restart_at.reset();
      ++service.restarts;
      Status restarted = SpawnLocked(service);
      if (!restarted.ok()) OnDeathLocked(service, "restart failed: " + restarted.message(), false, now);
    }
  }
}

}  // namespace topos::agent
