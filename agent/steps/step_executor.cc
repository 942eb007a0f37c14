#include "agent/steps/step_executor.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/steps/service_layout.h"
#include "certs/certificate.h"
#include "common/file_io.h"

namespace topos::agent {
namespace {

constexpr std::chrono::seconds kDefaultDeadline{300};
constexpr std::size_t kOutputChunk = 16 * 1024;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

topos::v1::StepUpdate UpdateFor(const topos::v1::RunStep& step, topos::v1::StepState state) {
  topos::v1::StepUpdate update;
  update.set_step_id(step.step_id());
  update.set_kind(step.kind());
  update.set_service(step.service());
  update.set_state(state);
  update.set_at_unix_ms(NowMs());
  return update;
}

topos::v1::StepUpdate UpdateFromEntry(const topos::v1::JournalEntry& entry) {
  topos::v1::StepUpdate update = UpdateFor(entry.step(), entry.state());
  *update.mutable_result() = entry.result();
  update.set_at_unix_ms(entry.finished_at_unix_ms() ? entry.finished_at_unix_ms()
                                                    : entry.started_at_unix_ms());
  return update;
}

}  // namespace

StepExecutor::StepExecutor(StepContext context) : context_(std::move(context)) {}

StepExecutor::~StepExecutor() { Stop(); }

void StepExecutor::Start() {
  AdoptServices(context_);
  {
    std::lock_guard lock(mutex_);
    for (const auto& entry : context_.journal->Interrupted()) {
      spdlog::warn("step {} ({}) was cut off by a restart; running it again",
                   entry.step().step_id(), topos::v1::StepKind_Name(entry.step().kind()));
      queue_.push_back({entry.step(), std::chrono::steady_clock::now()});
    }
  }
  thread_ = std::thread([this] { Loop(); });
}

void StepExecutor::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (running_cancel_) running_cancel_->store(true);
  }
  wake_.notify_all();
  // Stop may come from a signal thread and the owner at once: one joins.
  std::lock_guard join_lock(join_mutex_);
  if (thread_.joinable()) thread_.join();
}

void StepExecutor::SetSink(UpdateSink sink) {
  std::vector<topos::v1::StepUpdate> held;
  {
    std::lock_guard lock(mutex_);
    sink_ = sink;
    if (sink_) held.swap(undelivered_);
  }
  for (const auto& update : held) sink(update);
}

void StepExecutor::Emit(const topos::v1::StepUpdate& progress) {
  topos::v1::StepUpdate update = progress;
  if (update.state() != topos::v1::STEP_RUNNING) {
    // Final outcomes carry the services as they are now (see StepUpdate.services).
    update.clear_services();
    for (auto& service : ServiceReports()) *update.add_services() = std::move(service);
  }
  UpdateSink sink;
  {
    std::lock_guard lock(mutex_);
    sink = sink_;
    if (!sink && update.state() != topos::v1::STEP_RUNNING) {
      if (undelivered_.size() >= 200) undelivered_.erase(undelivered_.begin());
      undelivered_.push_back(update);
    }
  }
  if (sink) sink(update);
}

void StepExecutor::Submit(const topos::v1::RunStep& step) {
  Status valid = CheckRunStep(step);
  if (!valid.ok()) {
    auto update = UpdateFor(step, topos::v1::STEP_FAILED);
    update.mutable_result()->set_error(valid.message());
    Emit(update);
    return;
  }
  auto known = context_.journal->Find(step.step_id());
  if (known.ok()) {
    // Seen before: never run twice. A running step reports when it ends.
    if (known->state() != topos::v1::STEP_RUNNING) Emit(UpdateFromEntry(*known));
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (running_id_ == step.step_id() ||
        std::any_of(queue_.begin(), queue_.end(),
                    [&](const auto& queued) { return queued.step.step_id() == step.step_id(); })) {
      return;
    }
    queue_.push_back({step, std::chrono::steady_clock::now()});
  }
  wake_.notify_all();
}

void StepExecutor::Cancel(const std::string& step_id) {
  std::optional<topos::v1::RunStep> dropped;
  {
    std::lock_guard lock(mutex_);
    if (running_id_ == step_id && running_cancel_) running_cancel_->store(true);
    auto it = std::find_if(queue_.begin(), queue_.end(),
                           [&](const auto& queued) { return queued.step.step_id() == step_id; });
    if (it != queue_.end()) {
      dropped = it->step;
      queue_.erase(it);
    }
  }
  if (dropped) {
    topos::v1::JournalEntry entry;
    *entry.mutable_step() = *dropped;
    entry.set_state(topos::v1::STEP_CANCELLED);
    entry.mutable_result()->set_error("cancelled before it started");
    entry.set_started_at_unix_ms(NowMs());
    entry.set_finished_at_unix_ms(NowMs());
    (void)context_.journal->Write(entry);
    Emit(UpdateFromEntry(entry));
  }
}

void StepExecutor::Loop() {
  auto next_tick = std::chrono::steady_clock::now();
  for (;;) {
    std::optional<Queued> step;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, next_tick, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      if (!queue_.empty()) {
        step = queue_.front();
        queue_.pop_front();
        running_id_ = step->step.step_id();
        running_service_ = step->step.service();
        running_cancel_ = std::make_shared<std::atomic<bool>>(false);
      }
    }
    if (std::chrono::steady_clock::now() >= next_tick) {
      context_.services->Tick();
      next_tick = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    if (!step) continue;
    RunOne(*step);
    std::lock_guard lock(mutex_);
    running_id_.clear();
    running_service_.clear();
    running_cancel_.reset();
    wake_.notify_all();
  }
}

void StepExecutor::RunOne(const Queued& queued) {
  const topos::v1::RunStep& step = queued.step;
  std::shared_ptr<std::atomic<bool>> cancelled;
  {
    std::lock_guard lock(mutex_);
    cancelled = running_cancel_;
  }
  topos::v1::JournalEntry entry;
  *entry.mutable_step() = step;
  entry.set_state(topos::v1::STEP_RUNNING);
  entry.set_started_at_unix_ms(NowMs());
  Status journaled = context_.journal->Write(entry);
  if (!journaled.ok()) spdlog::error("journal step {}: {}", step.step_id(), journaled.message());
  Emit(UpdateFor(step, topos::v1::STEP_RUNNING));
  spdlog::info("step {} {} {} started", step.step_id(), topos::v1::StepKind_Name(step.kind()),
               step.service());

  auto deadline_seconds = step.deadline_seconds() == 0 ? kDefaultDeadline
                                                       : std::chrono::seconds(step.deadline_seconds());
  StepRun run{step, *cancelled, std::chrono::steady_clock::now() + deadline_seconds,
              [this, &step](std::string_view chunk) {
                while (!chunk.empty()) {
                  auto update = UpdateFor(step, topos::v1::STEP_RUNNING);
                  std::string_view piece = chunk.substr(0, kOutputChunk);
                  update.set_output(std::string(piece));
                  chunk.remove_prefix(piece.size());
                  Emit(update);
                }
              },
              queued.received_at};
  topos::v1::StepResult failure_detail;
  run.failure_detail = &failure_detail;
  bool pending = false;
  Result<topos::v1::StepResult> result = Status::Internal("unreachable");
  switch (step.kind()) {
    case topos::v1::CHECK_PREREQUISITES: result = CheckPrerequisitesStep(context_, run); break;
    case topos::v1::SETUP_LOCAL_STORE: result = SetupLocalStoreStep(context_, run); break;
    case topos::v1::INSTALL_SERVICE: result = InstallServiceStep(context_, run); break;
    case topos::v1::REQUEST_CERTIFICATE: result = RequestCertificateStep(context_, run, &pending); break;
    case topos::v1::ASSIGN_CERTIFICATE: result = AssignCertificateStep(context_, run); break;
    case topos::v1::START_SERVICE: result = StartServiceStep(context_, run); break;
    case topos::v1::STOP_SERVICE: result = StopServiceStep(context_, run); break;
    case topos::v1::UNINSTALL_SERVICE: result = UninstallServiceStep(context_, run); break;
    case topos::v1::ROLLBACK: result = RollbackStep(context_, run); break;
    default: result = Status::InvalidArgument("unknown step kind"); break;
  }
  if (step.kind() == topos::v1::ASSIGN_CERTIFICATE) {
    // The newest trust the controller sent wins over the bundle that came
    // with the certificate.
    std::lock_guard trust_lock(trust_mutex_);
    if (!trust_bundle_.empty()) {
      auto wrote = WriteServiceTrust(step.service(), trust_bundle_);
      if (!wrote.ok()) spdlog::warn("trust for {}: {}", step.service(), wrote.status().message());
    }
  }
  bool shutting_down = false;
  {
    std::lock_guard lock(mutex_);
    shutting_down = stopping_;
  }
  if (!result.ok() && shutting_down) {
    // Cut off by the agent stopping, not by the operator: the journal keeps
    // it RUNNING, so the next start runs it again (steps are idempotent).
    spdlog::warn("step {} interrupted by agent shutdown; it runs again when the agent starts",
                 step.step_id());
    return;
  }
  if (result.ok()) {
    *entry.mutable_result() = *result;
    entry.set_state(pending ? topos::v1::STEP_PENDING : topos::v1::STEP_SUCCEEDED);
  } else if (cancelled->load() || std::chrono::steady_clock::now() >= run.deadline) {
    entry.set_state(topos::v1::STEP_CANCELLED);
    entry.mutable_result()->set_error(cancelled->load()
                                          ? "cancelled: " + result.status().message()
                                          : "deadline passed: " + result.status().message());
  } else {
    entry.set_state(topos::v1::STEP_FAILED);
    *entry.mutable_result() = failure_detail;
    entry.mutable_result()->set_error(result.status().message());
  }
  entry.set_finished_at_unix_ms(NowMs());
  journaled = context_.journal->Write(entry);
  if (!journaled.ok()) spdlog::error("journal step {}: {}", step.step_id(), journaled.message());
  spdlog::info("step {} {} {}: {}", step.step_id(), topos::v1::StepKind_Name(step.kind()),
               topos::v1::StepState_Name(entry.state()),
               entry.result().error().empty() ? entry.result().summary() : entry.result().error());
  Emit(UpdateFromEntry(entry));
}

std::vector<topos::v1::StepUpdate> StepExecutor::RecentOutcomes(std::size_t limit) {
  std::vector<topos::v1::StepUpdate> updates;
  for (const auto& entry : context_.journal->Recent(limit)) updates.push_back(UpdateFromEntry(entry));
  return updates;
}

std::vector<topos::v1::ServiceReport> StepExecutor::ServiceReports() {
  std::vector<topos::v1::ServiceReport> reports;
  for (const auto& record : context_.journal->ListServices()) {
    topos::v1::ServiceReport report;
    report.set_name(record.name());
    report.set_version(record.version());
    report.set_previous_version(record.previous_version());
    ServiceState state = context_.services->Query(record.name());
    report.set_state(state.phase == ServiceState::Phase::kStopped
                         ? (record.should_run() ? "stopped" : "installed")
                         : PhaseName(state.phase));
    report.set_pid(state.pid);
    report.set_restarts(state.restarts);
    report.set_health(record.health().empty() ? "unknown" : record.health());
    for (const auto& name : record.certificate_names()) report.add_certificate_names(name);
    report.set_certificate_not_after_unix(record.certificate_not_after_unix());
    reports.push_back(std::move(report));
  }
  return reports;
}

bool StepExecutor::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return wake_.wait_for(lock, timeout, [this] { return queue_.empty() && running_id_.empty(); });
}

bool StepExecutor::Busy(const std::string& service) {
  std::lock_guard lock(mutex_);
  return (!running_id_.empty() && running_service_ == service) ||
         std::any_of(queue_.begin(), queue_.end(),
                     [&](const auto& queued) { return queued.step.service() == service; });
}

bool StepExecutor::InFlight(const std::string& step_id) {
  std::lock_guard lock(mutex_);
  return running_id_ == step_id ||
         std::any_of(queue_.begin(), queue_.end(),
                     [&](const auto& queued) { return queued.step.step_id() == step_id; });
}

Result<bool> StepExecutor::WriteServiceTrust(const std::string& service,
                                             const std::string& bundle) {
  auto record = context_.journal->GetService(service);
  if (!record.ok() || record->certificate_serial().empty()) return false;
  auto manifest = FindManifest(context_.state_dir, service);
  if (!manifest.ok() || !manifest->has_certificate()) return false;
  auto paths = TlsPathsOf(LayoutOf(context_, service), EffectiveBinding(*manifest));
  if (!paths.ok()) return paths.status();
  auto current = ReadFile(paths->ca, 1 << 20);
  if (current.ok() && *current == bundle) return false;
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(paths->ca, bundle, 0644));
  return true;
}

Result<int> StepExecutor::RefreshServiceTrust(const std::string& ca_bundle_pem) {
  auto parsed = certs::Certificate::BundleFromPem(ca_bundle_pem);
  if (!parsed.ok() || parsed->empty()) {
    return Status::InvalidArgument("the CA bundle for the services is not PEM certificates" +
                                   (parsed.ok() ? std::string() : ": " + parsed.status().message()));
  }
  std::lock_guard trust_lock(trust_mutex_);
  trust_bundle_ = ca_bundle_pem;
  int rewritten = 0;
  Status first_error;
  for (const auto& record : context_.journal->ListServices()) {
    auto wrote = WriteServiceTrust(record.name(), ca_bundle_pem);
    if (!wrote.ok()) {
      spdlog::error("trust for {}: {}", record.name(), wrote.status().message());
      if (first_error.ok()) first_error = wrote.status().WithContext(record.name());
      continue;
    }
    if (*wrote) {
      ++rewritten;
      spdlog::info("{}: CA file rewritten with the controller's trust bundle ({} certificates)",
                   record.name(), parsed->size());
    }
  }
  if (!first_error.ok()) return first_error;
  return rewritten;
}

}  // namespace topos::agent
