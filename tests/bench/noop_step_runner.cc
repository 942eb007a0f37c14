#include "tests/bench/noop_step_runner.h"

#include <algorithm>
#include <chrono>

#include "agent/steps/step_context.h"
#include "common/service_certificate_names.h"
#include "agent/steps/step_journal.h"

namespace topos::bench {
namespace {

constexpr std::size_t kMaxUndelivered = 200;  // as the StepExecutor keeps
constexpr std::chrono::hours kCertificateLifetime{30 * 24};

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}


}  // namespace

NoOpStepRunner::NoOpStepRunner(std::filesystem::path state_dir) : state_dir_(std::move(state_dir)) {}

void NoOpStepRunner::SetSink(UpdateSink sink) {
  std::vector<topos::v1::StepUpdate> held;
  {
    std::lock_guard lock(mutex_);
    sink_ = sink;
    if (sink_) held.swap(undelivered_);
  }
  for (const auto& update : held) sink(update);
}

void NoOpStepRunner::Submit(const topos::v1::RunStep& step) {
  topos::v1::StepUpdate update;
  {
    std::lock_guard lock(mutex_);
    if (auto known = outcomes_.find(step.step_id()); known != outcomes_.end()) {
      ++resent_;
      update = known->second;
    } else {
      ++executed_;
      update = Execute(step);
      for (auto& service : ServiceReportsLocked()) *update.add_services() = std::move(service);
      Status valid = agent::CheckStepId(step.step_id());
      if (valid.ok()) {  // an unusable id is answered but not remembered
        outcomes_[step.step_id()] = update;
        outcome_order_.push_back(step.step_id());
        if (outcome_order_.size() > kMaxRemembered) {
          outcomes_.erase(outcome_order_.front());
          outcome_order_.pop_front();
        }
      }
    }
  }
  Deliver(update);
}

void NoOpStepRunner::Cancel(const std::string& /*step_id*/) {
  // Every step finished inside Submit: there is never anything to cancel.
}

std::vector<topos::v1::StepUpdate> NoOpStepRunner::RecentOutcomes(std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<topos::v1::StepUpdate> recent;
  std::size_t first = outcome_order_.size() > limit ? outcome_order_.size() - limit : 0;
  for (std::size_t i = first; i < outcome_order_.size(); ++i) {
    topos::v1::StepUpdate update = outcomes_.at(outcome_order_[i]);
    update.clear_services();  // as from the journal: outcomes only
    recent.push_back(std::move(update));
  }
  return recent;
}

std::vector<topos::v1::ServiceReport> NoOpStepRunner::ServiceReports() {
  std::lock_guard lock(mutex_);
  return ServiceReportsLocked();
}

std::uint64_t NoOpStepRunner::executed() const {
  std::lock_guard lock(mutex_);
  return executed_;
}

std::uint64_t NoOpStepRunner::resent() const {
  std::lock_guard lock(mutex_);
  return resent_;
}

std::vector<topos::v1::ServiceReport> NoOpStepRunner::ServiceReportsLocked() const {
  std::vector<topos::v1::ServiceReport> reports;
  reports.reserve(services_.size());
  for (const auto& [name, report] : services_) reports.push_back(report);
  return reports;
}

topos::v1::StepUpdate NoOpStepRunner::Execute(const topos::v1::RunStep& step) {
  topos::v1::StepUpdate update;
  update.set_step_id(step.step_id());
  update.set_kind(step.kind());
  update.set_service(step.service());
  update.set_at_unix_ms(NowMs());
  if (Status valid = agent::CheckRunStep(step); !valid.ok()) {
    update.set_state(topos::v1::STEP_FAILED);
    update.mutable_result()->set_error(valid.message());
    return update;
  }
  update.set_state(topos::v1::STEP_SUCCEEDED);
  topos::v1::StepResult& result = *update.mutable_result();
  const std::string& name = step.service();
  auto found = services_.find(name);
  topos::v1::ServiceReport* report = found == services_.end() ? nullptr : &found->second;
  std::string summary;
  switch (step.kind()) {
    case topos::v1::SETUP_LOCAL_STORE:
      summary = "local store version " + std::to_string(step.config_version()) + " not checked";
      break;
    case topos::v1::CHECK_PREREQUISITES:
      summary = "prerequisites of " + name + " not checked";
      break;
    case topos::v1::INSTALL_SERVICE: {
      auto manifest = agent::FindManifest(state_dir_, name);
      std::string version = manifest.ok() ? manifest->version() : "no-op";
      if (report == nullptr) {
        report = &services_[name];
        report->set_name(name);
        report->set_state("installed");
        report->set_health("unknown");
      }
      result.set_changed(report->version() != version);
      if (report->version() != version) {
        if (!report->version().empty()) report->set_previous_version(report->version());
        report->set_version(version);
      }
      result.set_version(version);
      summary = "installed " + name + " " + version + " (nothing written)";
      break;
    }
    case topos::v1::REQUEST_CERTIFICATE:
      result.set_certificate_request_id("noop-" + step.step_id());
      summary = "certificate for " + name + " not requested";
      break;
    case topos::v1::ASSIGN_CERTIFICATE:
      if (report != nullptr) {
        auto slice = agent::ReadCurrentSlice(state_dir_);
        report->clear_certificate_names();
        if (slice.ok()) {
          for (const auto& candidate : slice->services()) {
            if (candidate.name() != name) continue;
            for (const auto& dns : ServiceCertificateNames(*slice, candidate, slice->host_fqdn())) {
              report->add_certificate_names(dns);
            }
          }
        }
        report->set_certificate_not_after_unix(std::chrono::duration_cast<std::chrono::seconds>(
            (std::chrono::system_clock::now() + kCertificateLifetime).time_since_epoch()).count());
      }
      result.set_changed(true);
      summary = "certificate assigned to " + name + " (nothing written)";
      break;
    case topos::v1::START_SERVICE:
      if (report != nullptr) {
        report->set_state("running");
        report->set_health("healthy");
        result.set_version(report->version());
      }
      result.set_changed(true);
      summary = "started " + name + " (no process)";
      break;
    case topos::v1::STOP_SERVICE:
      if (report != nullptr) {
        report->set_state("installed");
        report->set_health("unknown");
      }
      result.set_changed(report != nullptr);
      summary = "stopped " + name + " (no process)";
      break;
    case topos::v1::UNINSTALL_SERVICE:
      result.set_changed(report != nullptr);
      services_.erase(name);
      summary = "uninstalled " + name + " (nothing removed)";
      break;
    case topos::v1::ROLLBACK:
      if (report != nullptr && !report->previous_version().empty()) {
        std::string current = report->version();
        report->set_version(report->previous_version());
        report->set_previous_version(current);
        result.set_version(report->version());
        result.set_changed(true);
      }
      summary = "rolled back " + name + " (nothing written)";
      break;
    default:
      break;  // CheckRunStep refused it
  }
  result.set_summary("no-op: " + summary);
  return update;
}

void NoOpStepRunner::Deliver(const topos::v1::StepUpdate& update) {
  UpdateSink sink;
  {
    std::lock_guard lock(mutex_);
    sink = sink_;
    if (!sink) {
      if (undelivered_.size() >= kMaxUndelivered) undelivered_.erase(undelivered_.begin());
      undelivered_.push_back(update);
    }
  }
  if (sink) sink(update);
}

}  // namespace topos::bench
