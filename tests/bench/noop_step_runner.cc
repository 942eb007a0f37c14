#include "tests/bench/noop_step_runner.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "agent/steps/step_context.h"
#include "common/service_certificate_names.h"
#include "agent/steps/step_journal.h"
#include "certs/certificate.h"
#include "certs/csr.h"
#include "certs/private_key.h"

namespace topos::bench {
namespace {

constexpr std::size_t kMaxUndelivered = 200;  // as the StepExecutor keeps
constexpr std::chrono::hours kCertificateLifetime{30 * 24};

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}


// True if `held` names exactly `names` and is not yet due for renewal (two
// thirds of its lifetime), as the real request_certificate decides.
template <typename Held>
bool StillGood(const Held& held, const std::vector<std::string>& names) {
  if (std::set<std::string>(held.names.begin(), held.names.end()) !=
      std::set<std::string>(names.begin(), names.end())) {
    return false;
  }
  return std::chrono::system_clock::now() <
         held.not_before + (held.not_after - held.not_before) * 2 / 3;
}

}  // namespace

NoOpStepRunner::NoOpStepRunner(std::filesystem::path state_dir, ControllerStub controller)
    : controller_(std::move(controller)), state_dir_(std::move(state_dir)) {}

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
  bool request = false;
  {
    std::lock_guard lock(mutex_);
    DropIdleStubLocked();
    if (auto known = outcomes_.find(step.step_id()); known != outcomes_.end()) {
      ++resent_;
      update = known->second;
    } else if (controller_ && step.kind() == topos::v1::REQUEST_CERTIFICATE &&
               agent::CheckRunStep(step).ok()) {
      request = true;  // below, without the lock: key, CSR and a call
    } else {
      ++executed_;
      update = Execute(step);
      for (auto& service : ServiceReportsLocked()) *update.add_services() = std::move(service);
      RememberLocked(update);
    }
  }
  if (request) {
    update = RequestCertificate(step);
    std::lock_guard lock(mutex_);
    ++executed_;
    for (auto& service : ServiceReportsLocked()) *update.add_services() = std::move(service);
    RememberLocked(update);
  }
  Deliver(update);
}

void NoOpStepRunner::RememberLocked(const topos::v1::StepUpdate& update) {
  if (update.step_id().rfind("swarm-", 0) != 0) {
    last_answer_ = std::chrono::system_clock::now();
    if (first_answer_ == std::chrono::system_clock::time_point{}) first_answer_ = last_answer_;
  }
  if (!agent::CheckStepId(update.step_id()).ok()) return;  // answered but not remembered
  if (outcomes_.emplace(update.step_id(), update).second) {
    outcome_order_.push_back(update.step_id());
  }
  if (outcome_order_.size() > kMaxRemembered) {
    outcomes_.erase(outcome_order_.front());
    outcome_order_.pop_front();
  }
}

topos::v1::StepUpdate NoOpStepRunner::RequestCertificate(const topos::v1::RunStep& step) {
  topos::v1::StepUpdate update;
  update.set_step_id(step.step_id());
  update.set_kind(step.kind());
  update.set_service(step.service());
  topos::v1::StepResult& result = *update.mutable_result();
  auto finish = [&](topos::v1::StepState state, const std::string& text) {
    update.set_state(state);
    update.set_at_unix_ms(NowMs());
    if (state == topos::v1::STEP_FAILED) {
      result.set_error(text);
    } else {
      result.set_summary("no-op: " + text);
    }
    return update;
  };
  const std::string& name = step.service();
  auto slice = agent::ReadCurrentSlice(state_dir_);
  if (!slice.ok()) return finish(topos::v1::STEP_FAILED, slice.status().message());
  const topos::v1::Service* manifest = nullptr;
  for (const auto& candidate : slice->services()) {
    if (candidate.name() == name) manifest = &candidate;
  }
  if (manifest == nullptr) {
    return finish(topos::v1::STEP_FAILED, "service \"" + name + "\" is not in this host's slice");
  }
  if (!manifest->has_certificate()) return finish(topos::v1::STEP_SUCCEEDED, name + " needs no certificate");
  const std::vector<std::string> names =
      ServiceCertificateNames(*slice, *manifest, slice->host_fqdn());
  if (!step.reissue()) {
    std::lock_guard lock(mutex_);
    for (const auto* held : {&issued_, &assigned_}) {
      auto found = held->find(name);
      if (found != held->end() && StillGood(found->second, names)) {
        return finish(topos::v1::STEP_SUCCEEDED,
                      "certificate " + found->second.serial + " for " + name + " is current");
      }
    }
  }

  auto key = certs::PrivateKey::Generate();
  if (!key.ok()) return finish(topos::v1::STEP_FAILED, key.status().message());
  auto csr = certs::Csr::Create(*key, slice->host_fqdn(), names);
  if (!csr.ok()) return finish(topos::v1::STEP_FAILED, csr.status().message());
  auto stub = TakeStub();
  if (!stub) {
    return finish(topos::v1::STEP_FAILED, "no connection to the controller to request a certificate");
  }
  topos::v1::CertificateRequest request;
  request.set_service(name);
  request.set_csr_pem(csr->ToPem());
  topos::v1::CertificateReply reply;
  grpc::ClientContext call;
  // As the real agent: the request may take the step's whole deadline.
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(std::max<std::uint32_t>(step.deadline_seconds(), 1)));
  grpc::Status status = stub->RequestCertificate(&call, request, &reply);
  ReturnStub(std::move(stub));
  if (!status.ok()) {
    return finish(topos::v1::STEP_FAILED,
                  "certificate request to the controller failed: " + status.error_message());
  }
  result.set_certificate_request_id(reply.request_id());
  switch (reply.state()) {
    case topos::v1::CERTIFICATE_ISSUED: {
      auto certificate = certs::Certificate::FromPem(reply.certificate_pem());
      if (!certificate.ok() || !certificate->MatchesKey(*key)) {
        return finish(topos::v1::STEP_FAILED,
                      "the controller returned a certificate that does not match our key");
      }
      SimulatedCertificate held{certificate->serial_hex(), certificate->dns_names(),
                                certificate->not_before(), certificate->not_after()};
      {
        std::lock_guard lock(mutex_);
        issued_[name] = held;
        ++certificates_issued_;
      }
      result.set_changed(true);
      return finish(topos::v1::STEP_SUCCEEDED, "certificate " + held.serial + " issued for " + name +
                                                   " (its key is not kept)");
    }
    case topos::v1::CERTIFICATE_PENDING:
      return finish(topos::v1::STEP_PENDING, "certificate request " + reply.request_id() +
                                                 " waits for approval (" + reply.reason() + ")");
    case topos::v1::CERTIFICATE_DENIED:
      return finish(topos::v1::STEP_FAILED,
                    "certificate request " + reply.request_id() + " was denied: " + reply.reason());
    default:
      return finish(topos::v1::STEP_FAILED,
                    "the controller answered the certificate request with no state");
  }
}

std::unique_ptr<topos::v1::AgentService::StubInterface> NoOpStepRunner::TakeStub() {
  {
    std::lock_guard lock(mutex_);
    if (stub_) return std::move(stub_);
  }
  return controller_ ? controller_() : nullptr;
}

void NoOpStepRunner::ReturnStub(std::unique_ptr<topos::v1::AgentService::StubInterface> stub) {
  std::lock_guard lock(mutex_);
  stub_ = std::move(stub);
  stub_used_ = std::chrono::steady_clock::now();
}

void NoOpStepRunner::DropIdleStubLocked() {
  if (stub_ && std::chrono::steady_clock::now() - stub_used_ > kStubIdle) stub_.reset();
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
  DropIdleStubLocked();  // called every heartbeat
  return ServiceReportsLocked();
}

std::uint64_t NoOpStepRunner::certificates_issued() const {
  std::lock_guard lock(mutex_);
  return certificates_issued_;
}

std::string NoOpStepRunner::CertificateSerial(const std::string& service) const {
  std::lock_guard lock(mutex_);
  auto found = assigned_.find(service);
  return found == assigned_.end() ? "" : found->second.serial;
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
      if (auto issued = issued_.find(name); issued != issued_.end()) {
        const SimulatedCertificate& held = assigned_[name] = issued->second;
        issued_.erase(issued);
        if (report != nullptr) {
          report->clear_certificate_names();
          for (const auto& dns : held.names) report->add_certificate_names(dns);
          report->set_certificate_not_after_unix(
              std::chrono::duration_cast<std::chrono::seconds>(held.not_after.time_since_epoch())
                  .count());
        }
        result.set_changed(true);
        summary = "certificate " + held.serial + " assigned to " + name + " (nothing written)";
        break;
      }
      if (controller_) {  // certificates are real: there must be one
        if (auto held = assigned_.find(name); held != assigned_.end()) {
          summary = "certificate " + held->second.serial + " already assigned";
          break;
        }
        update.set_state(topos::v1::STEP_FAILED);
        result.set_error("no issued certificate to assign for " + name +
                         ": run request_certificate first");
        break;
      }
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

std::chrono::system_clock::time_point NoOpStepRunner::first_answer() const {
  std::lock_guard lock(mutex_);
  return first_answer_;
}

std::chrono::system_clock::time_point NoOpStepRunner::last_answer() const {
  std::lock_guard lock(mutex_);
  return last_answer_;
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
