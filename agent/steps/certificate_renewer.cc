#include "agent/steps/certificate_renewer.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/steps/service_layout.h"
#include "certs/certificate.h"
#include "common/file_io.h"

namespace topos::agent {

using std::chrono::steady_clock;
using std::chrono::system_clock;

system_clock::time_point RenewalDueAt(system_clock::time_point not_before,
                                      system_clock::time_point not_after, double jitter) {
  if (not_after <= not_before) return not_before;
  const double fraction = 2.0 / 3.0 - std::clamp(jitter, 0.0, 2.0 / 3.0);
  const auto lifetime = not_after - not_before;
  return not_before + std::chrono::duration_cast<system_clock::duration>(lifetime * fraction);
}

CertificateRenewer::CertificateRenewer(StepContext context, StepExecutor& executor,
                                       RenewerOptions options)
    : context_(std::move(context)), executor_(executor), options_(options) {}

CertificateRenewer::~CertificateRenewer() { Stop(); }

void CertificateRenewer::Start() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
}

void CertificateRenewer::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool CertificateRenewer::stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void CertificateRenewer::Loop() {
  for (;;) {
    CheckNow();
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, options_.interval, [this] { return stopping_; })) return;
  }
}

void CertificateRenewer::CheckNow() {
  for (const auto& record : context_.journal->ListServices()) {
    if (stopping()) return;
    const std::string& name = record.name();
    auto manifest = FindManifest(context_.state_dir, name);
    if (!manifest.ok() || !manifest->has_certificate()) continue;
    auto paths = TlsPathsOf(LayoutOf(context_, name), EffectiveBinding(*manifest));
    if (!paths.ok()) continue;
    // No certificate assigned yet: the deployment's own steps request one.
    auto pem = ReadFile(paths->cert, 1 << 20);
    if (!pem.ok()) continue;
    auto certificate = certs::Certificate::FromPem(*pem);
    if (!certificate.ok()) continue;

    ServiceRenewal& state = services_[name];
    if (state.jitter < 0) {
      std::uniform_real_distribution<double> draw(0.0, std::max(0.0, options_.max_jitter));
      state.jitter = options_.max_jitter > 0 ? draw(random_) : 0.0;
    }
    const std::string serial = certificate->serial_hex();
    if (state.serial != serial) {
      state.serial = serial;
      state.failures = 0;
      state.next_try = {};
    }
    const auto due = RenewalDueAt(certificate->not_before(), certificate->not_after(), state.jitter);
    if (system_clock::now() < due || steady_clock::now() < state.next_try) continue;
    if (executor_.Busy(name)) {
      spdlog::debug("certificate of {} is due for renewal; waiting for its running step", name);
      continue;
    }
    Renew(name, serial, state);
  }
}

void CertificateRenewer::Renew(const std::string& service, const std::string& serial,
                               ServiceRenewal& state) {
  const std::string base = "renew-" + service + "-" + serial;
  spdlog::info("certificate {} of {} is due for renewal; requesting a new one", serial, service);

  topos::v1::RunStep request;
  request.set_step_id(FreshId(base + "-request"));
  request.set_kind(topos::v1::REQUEST_CERTIFICATE);
  request.set_service(service);
  request.set_reissue(true);
  request.set_deadline_seconds(static_cast<std::uint32_t>(options_.step_deadline.count()));
  auto requested = RunAndWait(request);
  if (!requested) return;
  switch (requested->state()) {
    case topos::v1::STEP_SUCCEEDED:
      break;
    case topos::v1::STEP_PENDING:
      // Not a failure: an operator has to approve. Ask again next time.
      spdlog::warn("renewal of {}: {}", service, requested->result().summary());
      return;
    default:
      BackOff(service, state, requested->result().error());
      return;
  }

  topos::v1::RunStep assign = request;
  assign.set_step_id(FreshId(base + "-assign"));
  assign.set_kind(topos::v1::ASSIGN_CERTIFICATE);
  assign.set_reissue(false);
  auto assigned = RunAndWait(assign);
  if (!assigned) return;
  if (assigned->state() != topos::v1::STEP_SUCCEEDED) {
    BackOff(service, state, assigned->result().error());
    return;
  }
  ++renewals_;
  state.failures = 0;
  spdlog::info("renewed the certificate of {}: {}", service, assigned->result().summary());
}

std::optional<topos::v1::JournalEntry> CertificateRenewer::RunAndWait(
    const topos::v1::RunStep& step) {
  if (Status valid = CheckRunStep(step); !valid.ok()) {
    spdlog::error("renewal step {}: {}", step.step_id(), valid.message());
    return std::nullopt;
  }
  executor_.Submit(step);
  const auto deadline = steady_clock::now() + options_.step_deadline + std::chrono::seconds(30);
  for (;;) {
    auto entry = context_.journal->Find(step.step_id());
    if (entry.ok() && entry->state() != topos::v1::STEP_RUNNING && !executor_.InFlight(step.step_id())) {
      return *entry;
    }
    if (steady_clock::now() >= deadline) {
      spdlog::warn("renewal step {} is still not done; checking again later", step.step_id());
      return std::nullopt;
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, std::chrono::milliseconds(20), [this] { return stopping_; })) {
      return std::nullopt;
    }
  }
}

std::string CertificateRenewer::FreshId(const std::string& prefix) {
  for (int n = 1;; ++n) {
    std::string id = prefix + "-" + std::to_string(n);
    if (!context_.journal->Find(id).ok()) return id;
  }
}

void CertificateRenewer::BackOff(const std::string& service, ServiceRenewal& state,
                                 const std::string& why) {
  ++state.failures;
  auto wait = options_.interval * (std::int64_t{1} << std::min(state.failures, 20));
  wait = std::min(wait, options_.max_backoff);
  state.next_try = steady_clock::now() + wait;
  spdlog::error("renewal of the certificate of {} failed ({} in a row): {}; trying again in {} s",
                service, state.failures, why,
                std::chrono::duration_cast<std::chrono::seconds>(wait).count());
}

}  // namespace topos::agent
