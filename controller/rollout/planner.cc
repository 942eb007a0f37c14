#include "controller/rollout/planner.h"

#include "common/service_certificate_names.h"

#include <algorithm>
#include <set>

namespace topos::rollout {
namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}


// "3d", "5h", "12m": a duration as people read it.
std::string Span(std::chrono::seconds span) {
  const auto seconds = span.count();
  if (seconds >= 24 * 3600) return std::to_string(seconds / (24 * 3600)) + "d";
  if (seconds >= 3600) return std::to_string(seconds / 3600) + "h";
  return std::to_string(std::max<std::int64_t>(seconds / 60, 0)) + "m";
}

// Why the service needs a new certificate, or "" if its current one is good.
std::string CertificateProblem(const v1::HostConfig& slice, const v1::Service& service,
                               const v1::ServiceReport* report,
                               std::chrono::system_clock::time_point now) {
  if (report == nullptr || report->certificate_names().empty()) return "none assigned";
  std::vector<std::string> wanted = ServiceCertificateNames(slice, service, slice.host_fqdn());
  std::vector<std::string> have(report->certificate_names().begin(),
                                report->certificate_names().end());
  if (std::set<std::string>(wanted.begin(), wanted.end()) !=
      std::set<std::string>(have.begin(), have.end())) {
    return "certificate names differ: wants " + Join(wanted) + " (has " + Join(have) + ")";
  }
  const auto not_after = std::chrono::system_clock::time_point(
      std::chrono::seconds(report->certificate_not_after_unix()));
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(not_after - now);
  if (left.count() <= 0) return "certificate expired " + Span(-left) + " ago";
  if (left < kCertificateRenewBefore) {
    return "certificate expires in " + Span(left) + " (renewed when less than a third of its " +
           "30-day lifetime, " + Span(kCertificateRenewBefore) + ", remains)";
  }
  return "";
}

// Why a service that needs no new version or certificate must be started,
// or "" if it runs healthy.
std::string StartReason(const v1::ServiceReport& report) {
  const std::string& name = report.name();
  if (report.state() == "running") {
    if (report.health() == "unhealthy") return "restart " + name + " (running but unhealthy)";
    return "";
  }
  if (report.state() == "failed") {
    return "start " + name + " (failed" +
           (report.restarts() > 0 ? " after " + std::to_string(report.restarts()) + " restarts" : "") +
           ")";
  }
  if (report.state() == "installed") return "start " + name + " (installed, not running)";
  return "start " + name + " (" + (report.state().empty() ? "state unknown" : report.state()) + ")";
}

}  // namespace

HostPlan PlanHost(const v1::HostConfig& desired, const HostActual& actual,
                  const controller::ArtifactResolver& resolve,
                  std::chrono::system_clock::time_point now) {
  HostPlan plan;
  plan.host_fqdn = desired.host_fqdn();
  // The deploy resolves every artifact before its first step; so does the plan.
  for (const auto& service : desired.services()) {
    auto artifact = resolve(service);
    if (!artifact.ok()) {
      plan.error = artifact.status().message();
      return plan;
    }
  }
  auto add = [&](v1::StepKind kind, const std::string& service, std::string reason) {
    plan.changes.push_back(PlannedChange{kind, service, std::move(reason)});
  };

  if (actual.applied_config_version != desired.version()) {
    const std::string published = "published " + std::to_string(desired.version());
    add(v1::SETUP_LOCAL_STORE, "",
        actual.applied_config_version == 0
            ? "no local store yet, " + published
            : "local store at version " + std::to_string(actual.applied_config_version) + ", " +
                  published);
  }

  std::set<std::string> desired_names;
  for (const auto& service : desired.services()) {
    const std::string& name = service.name();
    desired_names.insert(name);
    const v1::ServiceReport* report = nullptr;
    for (const auto& candidate : actual.services) {
      if (candidate.name() == name) report = &candidate;
    }
    const bool running = report != nullptr && report->state() == "running";

    const bool install = report == nullptr || report->version() != service.version();
    if (install) {
      std::string why = report == nullptr ? "not installed"
                        : running         ? "host runs " + report->version()
                                          : "host has " + report->version() + " installed";
      add(v1::CHECK_PREREQUISITES, name, "before installing " + name + " " + service.version());
      add(v1::INSTALL_SERVICE, name, "install " + name + " " + service.version() + " (" + why + ")");
    }

    std::string certificate;
    if (service.has_certificate()) certificate = CertificateProblem(desired, service, report, now);
    if (!certificate.empty()) {
      add(v1::REQUEST_CERTIFICATE, name, "request a certificate for " + name + ": " + certificate);
      add(v1::ASSIGN_CERTIFICATE, name, "assign the new certificate to " + name);
    }

    // The chain: whatever install or certificate change is planned, the
    // service must be (re)started for it to take effect.
    std::string start;
    if (install || !certificate.empty()) {
      const std::string cause = install && !certificate.empty() ? "new version and certificate"
                                : install                       ? "new version"
                                                                : "new certificate";
      start = running ? "restart " + name + ": " + cause
                      : "start " + name + " " + service.version() + ": " + cause;
    } else {
      start = StartReason(*report);
    }
    if (!start.empty()) add(v1::START_SERVICE, name, start);
  }

  for (const auto& report : actual.services) {
    if (desired_names.count(report.name())) continue;
    plan.notes.push_back(report.name() + " is installed but no longer in the topology (toposctl "
                         "service uninstall " + report.name() + " --host " + desired.host_fqdn() +
                         ")");
  }
  if (!actual.connected && !plan.changes.empty()) {
    plan.notes.push_back("offline: planned from its last report; its agent must connect before "
                         "a deploy can run");
  }
  return plan;
}

}  // namespace topos::rollout
