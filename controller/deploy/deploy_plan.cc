#include "controller/deploy/deploy_plan.h"

#include <cctype>
#include <cstdio>

namespace topos::controller {

std::string StepKindName(v1::StepKind kind) {
  std::string name = v1::StepKind_Name(kind);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string DescribeStep(const v1::RunStep& step) {
  std::string text = StepKindName(step.kind());
  if (step.kind() == v1::SETUP_LOCAL_STORE) {
    return text + " (version " + std::to_string(step.config_version()) + ")";
  }
  text += " " + step.service();
  if (step.kind() == v1::INSTALL_SERVICE) {
    char size[32];
    std::snprintf(size, sizeof size, "%.1f MB", static_cast<double>(step.artifact().size()) / 1e6);
    text += " (artifact " + step.artifact().sha256().substr(0, 12) + ", " + size + ")";
  }
  return text;
}

Result<std::vector<v1::RunStep>> PlanHostDeploy(const v1::HostConfig& slice,
                                                const ArtifactResolver& resolve,
                                                const std::string& step_id_prefix,
                                                std::uint32_t deadline_seconds) {
  std::vector<v1::RunStep> steps;
  auto add = [&](v1::StepKind kind, const std::string& service) -> v1::RunStep& {
    v1::RunStep& step = steps.emplace_back();
    step.set_step_id(step_id_prefix + "-" + std::to_string(steps.size()));
    step.set_kind(kind);
    step.set_service(service);
    step.set_deadline_seconds(deadline_seconds);
    return step;
  };
  add(v1::SETUP_LOCAL_STORE, "").set_config_version(slice.version());
  for (const auto& service : slice.services()) {
    auto artifact = resolve(service);
    if (!artifact.ok()) return artifact.status();
    add(v1::CHECK_PREREQUISITES, service.name());
    auto& install = add(v1::INSTALL_SERVICE, service.name());
    install.mutable_artifact()->set_sha256(artifact->sha256);
    install.mutable_artifact()->set_size(artifact->size);
    if (service.has_certificate()) {
      add(v1::REQUEST_CERTIFICATE, service.name());
      add(v1::ASSIGN_CERTIFICATE, service.name());
    }
    add(v1::START_SERVICE, service.name());
  }
  return steps;
}

Result<std::vector<v1::RunStep>> PlanServiceAction(const v1::HostConfig& slice, v1::StepKind action,
                                                   const std::string& service,
                                                   const std::string& step_id_prefix,
                                                   std::uint32_t deadline_seconds) {
  if (action != v1::START_SERVICE && action != v1::STOP_SERVICE &&
      action != v1::UNINSTALL_SERVICE && action != v1::ROLLBACK) {
    return Status::InvalidArgument("action must be start_service, stop_service, "
                                   "uninstall_service or rollback");
  }
  if (service.empty() || service.size() > 63) {
    return Status::InvalidArgument("a service name (1-63 characters) is required with an action");
  }
  bool named = false;
  for (const auto& candidate : slice.services()) named = named || candidate.name() == service;
  if (!named && (action == v1::START_SERVICE || action == v1::ROLLBACK)) {
    return Status::NotFound("service \"" + service + "\" does not run on " + slice.host_fqdn() +
                            " in topology version " + std::to_string(slice.version()));
  }
  v1::RunStep step;
  step.set_step_id(step_id_prefix + "-1");
  step.set_kind(action);
  step.set_service(service);
  step.set_deadline_seconds(deadline_seconds);
  return std::vector<v1::RunStep>{step};
}

}  // namespace topos::controller
