#include "agent/service/systemd_service_manager.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include <spdlog/spdlog.h>

#include "agent/service/systemd_unit.h"

namespace topos::agent {
namespace {

using Phase = ServiceState::Phase;

constexpr std::chrono::minutes kSystemctlTimeout{2};

std::map<std::string, std::string> ParseProperties(const std::string& text) {
  std::map<std::string, std::string> properties;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const std::size_t eq = line.find('=');
    if (eq != std::string::npos) properties[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return properties;
}

// How the main process ended, from ExecMainCode (CLD_EXITED = 1, CLD_KILLED
// = 2, CLD_DUMPED = 3) and ExecMainStatus.
std::string DescribeMainExit(const std::map<std::string, std::string>& p) {
  auto get = [&](const char* key) {
    auto it = p.find(key);
    return it == p.end() ? std::string() : it->second;
  };
  const std::string code = get("ExecMainCode");
  const std::string status = get("ExecMainStatus");
  if (code == "1") return "exited with status " + status;
  if (code == "2" || code == "3") {
    int signal = 0;
    try {
      signal = std::stoi(status);
    } catch (const std::exception&) {
    }
    return "killed by signal " + status + " (" + SignalName(signal) + ")";
  }
  const std::string result = get("Result");
  return "systemd result: " + (result.empty() ? std::string("unknown") : result);
}

}  // namespace

SystemdServiceManager::SystemdServiceManager(std::filesystem::path unit_dir, Runner runner)
    : unit_dir_(std::move(unit_dir)),
      runner_(runner ? std::move(runner)
                     : Runner([](const CommandSpec& spec) { return RunCommand(spec); })) {}

std::filesystem::path SystemdServiceManager::UnitPath(const std::string& name) const {
  return unit_dir_ / UnitFileName(name);
}

Result<CommandResult> SystemdServiceManager::Systemctl(const std::vector<std::string>& args,
                                                       const std::vector<int>& accepted) {
  CommandSpec spec;
  spec.argv.push_back("systemctl");
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.timeout = kSystemctlTimeout;
  std::string command;
  for (const std::string& arg : spec.argv) command += (command.empty() ? "" : " ") + arg;
  Result<CommandResult> result = runner_(spec);
  if (!result.ok()) return result.status().WithContext(command);
  const bool accepted_status =
      result->outcome == CommandResult::Outcome::kExited &&
      std::find(accepted.begin(), accepted.end(), result->exit_code) != accepted.end();
  if (!result->succeeded() && !accepted_status) {
    return Status::Internal(command + " failed: " + result->Describe() + ": " +
                            result->output_tail);
  }
  return result;
}

Status SystemdServiceManager::Start(const ServiceRunSpec& spec) {
  Result<std::string> unit = RenderUnit(spec);
  if (!unit.ok()) return unit.status();
  std::lock_guard<std::mutex> lock(mu_);
  const std::filesystem::path path = UnitPath(spec.name);
  std::filesystem::path temp = path;
  temp += ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << *unit;
    out.flush();
    if (!out) return Status::Internal("cannot write " + temp.string());
  }
  std::error_code error;
  std::filesystem::permissions(temp, std::filesystem::perms(0644), error);
  std::filesystem::rename(temp, path, error);
  if (error) {
    return Status::Internal("cannot rename " + temp.string() + " to " + path.string() + ": " +
                            error.message());
  }
  Result<CommandResult> reload = Systemctl({"daemon-reload"});
  if (!reload.ok()) return reload.status();
  Result<CommandResult> restart = Systemctl({"restart", UnitFileName(spec.name)});
  if (!restart.ok()) return restart.status();
  spdlog::info("service {} {} started by systemd", spec.name, spec.version);
  return Status::Ok();
}

Status SystemdServiceManager::Stop(const std::string& name) {
  TOPOS_RETURN_IF_ERROR(ValidateServiceName(name));
  std::lock_guard<std::mutex> lock(mu_);
  std::error_code error;
  if (!std::filesystem::exists(UnitPath(name), error)) return Status::Ok();
  // 5: the unit is not loaded, so not running either.
  Result<CommandResult> stop = Systemctl({"stop", UnitFileName(name)}, {5});
  return stop.ok() ? Status::Ok() : stop.status();
}

Status SystemdServiceManager::Signal(const std::string& name, int signal) {
  TOPOS_RETURN_IF_ERROR(ValidateServiceName(name));
  std::lock_guard<std::mutex> lock(mu_);
  if (QueryLocked(name).phase != Phase::kRunning) {
    return Status::FailedPrecondition("service " + name + " is not running");
  }
  Result<CommandResult> kill =
      Systemctl({"kill", "--signal=" + SignalName(signal), UnitFileName(name)});
  return kill.ok() ? Status::Ok() : kill.status();
}

ServiceState SystemdServiceManager::Query(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return QueryLocked(name);
}

ServiceState SystemdServiceManager::QueryLocked(const std::string& name) {
  ServiceState state;
  if (!ValidateServiceName(name).ok()) return state;
  std::ifstream unit_file(UnitPath(name));
  if (!unit_file) return state;  // not installed: stopped
  std::string unit((std::istreambuf_iterator<char>(unit_file)), std::istreambuf_iterator<char>());
  state.version = UnitVersion(unit);

  Result<CommandResult> show = Systemctl(
      {"show", "-p", "MainPID,ActiveState,SubState,NRestarts,Result,ExecMainCode,ExecMainStatus",
       UnitFileName(name)});
  if (!show.ok()) {
    state.phase = Phase::kFailed;
    state.last_error = show.status().message();
    return state;
  }
  std::map<std::string, std::string> p = ParseProperties(show->output_tail);
  try {
    state.pid = static_cast<pid_t>(std::stol(p["MainPID"]));
    state.restarts = static_cast<std::uint32_t>(std::stoul(p["NRestarts"]));
  } catch (const std::exception&) {
  }
  const std::string& active = p["ActiveState"];
  if (active == "active" || active == "reloading" ||
      (active == "activating" && p["SubState"] != "auto-restart")) {
    state.phase = Phase::kRunning;
    return state;
  }
  state.pid = 0;
  if (active == "activating") {  // waiting to restart
    state.phase = Phase::kFailed;
    state.last_error = DescribeMainExit(p) + "; restart pending";
  } else if (active == "failed") {
    state.phase = Phase::kFailed;
    state.last_error = p["Result"] == "start-limit-hit"
                           ? "gave up after " + p["NRestarts"] + " restarts: " + DescribeMainExit(p)
                           : DescribeMainExit(p);
  }
  return state;
}

Status SystemdServiceManager::Remove(const std::string& name) {
  TOPOS_RETURN_IF_ERROR(ValidateServiceName(name));
  std::lock_guard<std::mutex> lock(mu_);
  const std::filesystem::path path = UnitPath(name);
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return Status::Ok();
  Result<CommandResult> stop = Systemctl({"stop", UnitFileName(name)}, {5});
  if (!stop.ok()) return stop.status();
  std::filesystem::remove(path, error);
  if (error) return Status::Internal("cannot remove " + path.string() + ": " + error.message());
  Result<CommandResult> reload = Systemctl({"daemon-reload"});
  if (!reload.ok()) return reload.status();
  Systemctl({"reset-failed", UnitFileName(name)}, {1, 5});  // only forgets a failed state
  return Status::Ok();
}

}  // namespace topos::agent
