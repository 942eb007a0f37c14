#include "controller/hub/agent_stream.h"

#include <spdlog/spdlog.h>

#include "topos/v1/agent_journal.pb.h"

namespace topos::controller {
namespace {

constexpr std::uint32_t kMinHeartbeatSeconds = 1;
constexpr std::uint32_t kMaxHeartbeatSeconds = 3600;
constexpr std::size_t kMaxFactBytes = 256;

grpc::Status CheckFacts(const topos::v1::HostFacts& facts) {
  for (const std::string* field : {&facts.hostname(), &facts.os_name(), &facts.os_version(),
                                   &facts.kernel(), &facts.arch(), &facts.agent_version()}) {
    if (field->size() > kMaxFactBytes) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "a host fact is longer than 256 bytes");
    }
  }
  return grpc::Status::OK;
}

constexpr int kMaxJournalEntries = 200;
constexpr int kMaxServices = 64;
constexpr std::size_t kMaxGenerationBytes = 64;  // hex SHA-256
constexpr std::size_t kMaxOutputBytes = 16 * 1024;
constexpr std::size_t kMaxResultTextBytes = 16 * 1024;

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

grpc::Status CheckStepUpdate(const topos::v1::StepUpdate& update) {
  if (update.step_id().empty() || update.step_id().size() > 128) {
    return Invalid("step_update.step_id must be 1-128 bytes");
  }
  if (update.output().size() > kMaxOutputBytes) return Invalid("step_update.output over 16 KiB");
  const auto& result = update.result();
  if (result.summary().size() + result.error().size() + result.output_tail().size() >
          kMaxResultTextBytes ||
      result.problems_size() > 64) {
    return Invalid("step_update.result is too large");
  }
  return grpc::Status::OK;
}

// Checks the reports and serializes them for the store.
grpc::Status PackServices(const google::protobuf::RepeatedPtrField<topos::v1::ServiceReport>& services,
                          std::string* packed) {
  if (services.size() > kMaxServices) return Invalid("more than 64 services reported");
  topos::v1::StoredServiceReports stored;
  for (const auto& service : services) {
    if (service.ByteSizeLong() > 4096) return Invalid("a service report is over 4 KiB");
    *stored.add_services() = service;
  }
  *packed = stored.SerializeAsString();
  return grpc::Status::OK;
}

}  // namespace

AgentStream::AgentStream(AgentHub& hub, std::string fqdn) : hub_(hub), fqdn_(std::move(fqdn)) {
  Status attached = hub_.Attach(fqdn_, this, std::chrono::system_clock::now());
  std::lock_guard lock(mutex_);
  if (!attached.ok()) {
    FinishLocked(grpc::Status(grpc::StatusCode::ALREADY_EXISTS, attached.message()));
    return;
  }
  attached_ = true;
  spdlog::info("host={} connected", fqdn_);
  // Initial metadata tells the agent its stream was accepted. It must go
  // before any write, and the hub may already have queued one.
  StartSendInitialMetadata();
  started_ = true;
  if (!outbox_.empty()) {
    write_in_flight_ = true;
    StartWrite(&outbox_.front());
  }
  StartRead(&incoming_);
}

void AgentStream::Close(const std::string& reason, std::uint32_t retry_after_seconds) {
  std::lock_guard lock(mutex_);
  if (finishing_) return;
  topos::v1::ControllerMessage goodbye;
  goodbye.mutable_goodbye()->set_reason(reason);
  goodbye.mutable_goodbye()->set_retry_after_seconds(retry_after_seconds);
  SendLocked(std::move(goodbye));
  finishing_ = true;
  finish_after_writes_ = grpc::Status(
      retry_after_seconds > 0 ? grpc::StatusCode::UNAVAILABLE
                              : grpc::StatusCode::PERMISSION_DENIED,
      reason);
  // If nothing was in flight, SendLocked started the write; Finish follows
  // in OnWriteDone.
}

void AgentStream::Send(topos::v1::ControllerMessage message) {
  std::lock_guard lock(mutex_);
  if (finishing_) return;
  SendLocked(std::move(message));
}

void AgentStream::OnReadDone(bool ok) {
  if (!ok) {
    // The agent closed its side or the connection broke.
    std::lock_guard lock(mutex_);
    FinishLocked(grpc::Status::OK);
    return;
  }
  grpc::Status problem = Handle(incoming_);
  std::lock_guard lock(mutex_);
  if (!problem.ok()) {
    spdlog::warn("host={} protocol error: {}", fqdn_, problem.error_message());
    FinishLocked(problem);
    return;
  }
  if (!finishing_) StartRead(&incoming_);
}

grpc::Status AgentStream::Handle(const topos::v1::AgentMessage& message) {
  auto now = std::chrono::system_clock::now();
  switch (message.kind_case()) {
    case topos::v1::AgentMessage::kHello: {
      const auto& hello = message.hello();
      std::uint32_t interval = hello.heartbeat_interval_seconds();
      if (interval < kMinHeartbeatSeconds || interval > kMaxHeartbeatSeconds) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "heartbeat_interval_seconds must be 1..3600");
      }
      if (auto facts = CheckFacts(hello.facts()); !facts.ok()) return facts;
      if (hello.agent_version().size() > kMaxFactBytes) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "agent_version too long");
      }
      if (hello.journal_size() > kMaxJournalEntries) return Invalid("hello.journal over 200 entries");
      for (const auto& entry : hello.journal()) {
        if (auto valid = CheckStepUpdate(entry); !valid.ok()) return valid;
      }
      if (hello.trust_generation().size() > kMaxGenerationBytes) {
        return Invalid("hello.trust_generation over 64 bytes");
      }
      std::string services;
      if (auto packed = PackServices(hello.services(), &services); !packed.ok()) return packed;
      hello_received_ = true;
      std::vector<topos::v1::StepUpdate> journal(hello.journal().begin(), hello.journal().end());
      hub_.RecordHello(fqdn_, std::chrono::seconds(interval), hello.agent_version(),
                       hello.facts().SerializeAsString(), hello.config_version(),
                       std::move(services), journal, now);
      hub_.RecordTrustHello(fqdn_, hello.trust_generation());
      return grpc::Status::OK;
    }
    case topos::v1::AgentMessage::kTrustApplied: {
      const auto& applied = message.trust_applied();
      if (!hello_received_) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "the first message on a stream must be Hello");
      }
      if (applied.generation().size() > kMaxGenerationBytes) {
        return Invalid("trust_applied.generation over 64 bytes");
      }
      if (applied.error().size() > 1024) return Invalid("trust_applied.error over 1 KiB");
      hub_.RecordTrustApplied(fqdn_, applied);
      return grpc::Status::OK;
    }
    case topos::v1::AgentMessage::kStoreApplied: {
      const auto& applied = message.store_applied();
      if (!hello_received_) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "the first message on a stream must be Hello");
      }
      if (applied.error().size() > 1024) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "store_applied.error over 1 KiB");
      }
      hub_.RecordStoreApplied(fqdn_, applied.version(), applied.ok(), applied.error(), now);
      return grpc::Status::OK;
    }
    case topos::v1::AgentMessage::kHeartbeat:
      if (!hello_received_) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "the first message on a stream must be Hello");
      }
      {
        std::optional<std::string> services;
        if (message.heartbeat().services_size() > 0) {
          services.emplace();
          if (auto packed = PackServices(message.heartbeat().services(), &*services); !packed.ok()) {
            return packed;
          }
        }
        hub_.RecordHeartbeat(fqdn_, now, std::move(services));
      }
      return grpc::Status::OK;
    case topos::v1::AgentMessage::kStepUpdate:
      if (!hello_received_) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "the first message on a stream must be Hello");
      }
      if (auto valid = CheckStepUpdate(message.step_update()); !valid.ok()) return valid;
      if (message.step_update().state() != topos::v1::STEP_RUNNING) {
        std::string services;
        if (auto packed = PackServices(message.step_update().services(), &services); !packed.ok()) {
          return packed;
        }
        hub_.RecordHeartbeat(fqdn_, now, std::move(services));
      }
      hub_.RecordStepUpdate(fqdn_, message.step_update());
      return grpc::Status::OK;
    case topos::v1::AgentMessage::KIND_NOT_SET:
      break;
  }
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty or unknown agent message");
}

void AgentStream::SendLocked(topos::v1::ControllerMessage message) {
  outbox_.push_back(std::move(message));
  if (started_ && !write_in_flight_) {
    write_in_flight_ = true;
    StartWrite(&outbox_.front());
  }
}

void AgentStream::OnWriteDone(bool ok) {
  std::lock_guard lock(mutex_);
  outbox_.pop_front();
  write_in_flight_ = false;
  if (ok && !outbox_.empty()) {
    write_in_flight_ = true;
    StartWrite(&outbox_.front());
    return;
  }
  if (finish_after_writes_) {
    grpc::Status status = *finish_after_writes_;
    finish_after_writes_.reset();
    Finish(status);
  }
}

void AgentStream::FinishLocked(grpc::Status status) {
  if (finishing_) {
    // Close() already asked to finish after its Goodbye; a broken read must
    // not wait for a write that may never complete.
    if (finish_after_writes_ && !write_in_flight_) {
      finish_after_writes_.reset();
      Finish(status);
    }
    return;
  }
  finishing_ = true;
  if (write_in_flight_) {
    finish_after_writes_ = status;
  } else {
    Finish(status);
  }
}

void AgentStream::OnDone() {
  if (attached_) {
    hub_.Detach(fqdn_, this, std::chrono::system_clock::now());
    spdlog::info("host={} disconnected", fqdn_);
  }
  delete this;
}

}  // namespace topos::controller
