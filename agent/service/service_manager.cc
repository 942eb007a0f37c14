#include "agent/service/service_manager.h"

#include <unistd.h>

#include <utility>

#include "agent/service/supervisor_service_manager.h"
#include "agent/service/systemd_service_manager.h"

namespace topos::agent {

const char* PhaseName(ServiceState::Phase phase) {
  switch (phase) {
    case ServiceState::Phase::kStopped:
      return "stopped";
    case ServiceState::Phase::kRunning:
      return "running";
    case ServiceState::Phase::kFailed:
      return "failed";
  }
  return "unknown";
}

Result<ServiceManagerKind> ParseServiceManagerKind(const std::string& text) {
  if (text == "auto") return ServiceManagerKind::kAuto;
  if (text == "systemd") return ServiceManagerKind::kSystemd;
  if (text == "supervisor") return ServiceManagerKind::kSupervisor;
  return Status::InvalidArgument("unknown service manager \"" + text +
                                 "\" (choose one of: auto, systemd, supervisor)");
}

Status ValidateServiceName(const std::string& name) {
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = !name.empty() && name.size() <= 63 && lower_or_digit(name[0]);
  for (std::size_t i = 1; ok && i < name.size(); ++i) {
    ok = lower_or_digit(name[i]) || name[i] == '-';
  }
  if (ok) return Status::Ok();
  return Status::InvalidArgument("invalid service name \"" + name +
                                 "\" (use 1-63 characters a-z, 0-9 and '-', starting with a "
                                 "letter or digit)");
}

Result<std::unique_ptr<ServiceManager>> MakeServiceManager(ServiceManagerKind kind,
                                                           const std::filesystem::path& state_dir) {
  std::error_code error;
  const bool systemd_running = std::filesystem::is_directory("/run/systemd/system", error);
  if (kind == ServiceManagerKind::kAuto) {
    kind = systemd_running && geteuid() == 0 ? ServiceManagerKind::kSystemd
                                             : ServiceManagerKind::kSupervisor;
  }
  if (kind == ServiceManagerKind::kSystemd) {
    if (!systemd_running) {
      return Status::InvalidArgument(
          "service manager \"systemd\" requested but systemd is not running here "
          "(/run/systemd/system is missing); use \"supervisor\" or \"auto\"");
    }
    return std::unique_ptr<ServiceManager>(std::make_unique<SystemdServiceManager>());
  }
  return std::unique_ptr<ServiceManager>(
      std::make_unique<SupervisorServiceManager>(state_dir / "supervisor"));
}

}  // namespace topos::agent
