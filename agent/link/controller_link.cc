#include "agent/link/controller_link.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <utility>
#include <random>

#include "agent/facts/host_facts.h"
#include "agent/link/backoff.h"
#include "agent/link/controller_link_session.h"
#include "agent/link/identity_recovery.h"
#include "agent/link/trust_files.h"
#include "agent/localstore/local_store.h"
#include "agent/version.h"
#include "common/grpc_tls.h"
#include "topos/v1/agent.grpc.pb.h"

namespace topos::agent {

ControllerLink::ControllerLink(StateDir state_dir, LinkOptions options)
    : state_dir_(std::move(state_dir)), options_(options) {}

ControllerLink::~ControllerLink() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

Status ControllerLink::Start() {
  auto state = state_dir_.Load();
  if (!state.ok()) return state.status();
  state_ = std::move(*state);
  validity_ = IdentityValidity::Of(state_.identity.certificate_pem);
  auto local_store = LocalStore::Open(state_dir_.root());
  if (!local_store.ok()) return local_store.status().WithContext("local store");
  local_store_ = std::move(*local_store);
  applied_version_ = local_store_->version();
  std::mt19937_64 random(std::random_device{}());
  renew_jitter_ = DrawRenewJitter(options_.renew_jitter_fraction, random);
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void ControllerLink::Stop() {
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    session = current_;
  }
  wake_.notify_all();
  if (session) session->Cancel();
}

std::shared_ptr<grpc::Channel> ControllerLink::channel() const {
  if (!connected_.load()) return nullptr;
  std::lock_guard lock(mutex_);
  return channel_;
}

Status ControllerLink::Wait() {
  if (thread_.joinable()) thread_.join();
  return final_status_;
}

bool ControllerLink::Sleep(std::chrono::milliseconds duration) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, duration, [this] { return stopping_; });
}

void ControllerLink::Run() {
  ReconnectSchedule schedule(std::random_device{}());
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    // An identity that expired while we were away (or while the controller
    // was unreachable) cannot open a mutual-TLS stream: recover it first.
    if (validity_.ExpiredAt(std::chrono::system_clock::now())) {
      bool final = false;
      Status recovered = RecoverIdentity(&final);
      if (final) {
        spdlog::error("{}", recovered.message());
        final_status_ = recovered;
        return;
      }
      if (!recovered.ok()) {
        if (!Sleep(schedule.NextDelay())) break;
        continue;
      }
    }
    RenewIfDue();
    bool accepted = false;
    std::chrono::seconds spread{0};
    Status final_refusal = RunSession(&accepted, &spread);
    connected_ = false;
    if (!final_refusal.ok()) {
      spdlog::error("{}", final_refusal.message());
      final_status_ = final_refusal;
      return;
    }
    if (accepted) schedule.Accepted();
    schedule.SpreadOver(spread);
    auto delay = schedule.NextDelay();
    spdlog::debug("reconnecting in {} ms", delay.count());
    if (!Sleep(delay)) break;
  }
  final_status_ = Status::Ok();
}

Status ControllerLink::RunSession(bool* accepted, std::chrono::seconds* spread) {
  auto channel = MakeChannel(state_.controller, MakeMutualTlsCredentials(state_.identity),
                             options_.private_connection);
  auto stub = topos::v1::AgentService::NewStub(channel);
  auto session = std::make_shared<Session>();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return Status::Ok();
    current_ = session;
    channel_ = channel;
  }
  topos::v1::AgentMessage hello;
  hello.mutable_hello()->set_agent_version(kAgentVersion);
  *hello.mutable_hello()->mutable_facts() = CollectHostFacts(state_dir_.root());
  hello.mutable_hello()->set_heartbeat_interval_seconds(
      static_cast<std::uint32_t>(options_.heartbeat_interval.count()));
  hello.mutable_hello()->set_config_version(local_store_->version());
  hello.mutable_hello()->set_trust_generation(TrustFiles(state_dir_.root()).Generation());
  if (options_.steps != nullptr) {
    for (auto& outcome : options_.steps->RecentOutcomes()) {
      *hello.mutable_hello()->add_journal() = std::move(outcome);
    }
    for (auto& service : options_.steps->ServiceReports()) {
      *hello.mutable_hello()->add_services() = std::move(service);
    }
    std::weak_ptr<Session> weak = session;
    options_.steps->SetSink([weak](const topos::v1::StepUpdate& update) {
      if (auto live = weak.lock()) {
        topos::v1::AgentMessage message;
        *message.mutable_step_update() = update;
        live->Send(std::move(message));
      }
    });
  }
  session->Begin(*stub, std::move(hello));

  auto interval = std::chrono::duration_cast<std::chrono::milliseconds>(options_.heartbeat_interval);
  std::uint64_t sequence = 0;
  bool announced = false;
  auto next_beat = std::chrono::steady_clock::now() + interval;
  for (;;) {
    // Until the stream is accepted there is no heartbeat to send: wait for
    // acceptance itself. (Waiting for a heartbeat already due would return
    // at once and spin while a loaded controller takes long to accept.)
    auto wait = announced ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                next_beat - std::chrono::steady_clock::now())
                          : interval;
    bool done = session->WaitEvent(std::max(wait, std::chrono::milliseconds(0)), !announced);
    for (auto& update : session->TakeUpdates()) ApplyUpdate(*session, update);
    bool reconnect = false;
    for (auto& command : session->TakeCommands()) {
      reconnect = HandleCommand(*session, command) || reconnect;
    }
    if (reconnect) session->Cancel();  // reconnect with the new certificate
    if (done) break;
    if (!announced) {
      if (!session->accepted()) continue;
      announced = true;
      connected_ = true;
      next_beat = std::chrono::steady_clock::now() + interval;
      ++sessions_;
      spdlog::info("connected to {} as {}", state_.controller, state_.host_fqdn);
      continue;
    }
    if (std::chrono::steady_clock::now() < next_beat) continue;
    next_beat = std::chrono::steady_clock::now() + interval;
    if (RenewIfDue()) {
      session->Cancel();  // reconnect with the new certificate
      continue;
    }
    topos::v1::AgentMessage beat;
    beat.mutable_heartbeat()->set_sequence(++sequence);
    beat.mutable_heartbeat()->set_disk_free_bytes(FreeDiskBytes(state_dir_.root()));
    if (options_.steps != nullptr) {
      for (auto& service : options_.steps->ServiceReports()) {
        *beat.mutable_heartbeat()->add_services() = std::move(service);
      }
    }
    session->Send(std::move(beat));
  }
  {
    std::lock_guard lock(mutex_);
    current_.reset();
    channel_.reset();
  }
  if (options_.steps != nullptr) options_.steps->SetSink({});
  if (session->accepted() && !announced) ++sessions_;  // ended before we looked
  *accepted = session->accepted() || announced;
  grpc::Status status = session->status();
  auto goodbye = session->goodbye();
  bool final = (goodbye && goodbye->retry_after_seconds() == 0) ||
               status.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
               status.error_code() == grpc::StatusCode::UNAUTHENTICATED;
  if (final) {
    return Status::PermissionDenied(
        "the controller refused this agent (" +
        (goodbye ? goodbye->reason() : status.error_message()) +
        "); it needs a new enrollment: get a token with `toposctl token create` and run "
        "`topos-agent enroll` with a fresh --state-dir");
  }
  if (goodbye) *spread = std::chrono::seconds(goodbye->retry_after_seconds());
  if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
    spdlog::warn("controller refused the stream: {}", status.error_message());
  } else if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
    spdlog::warn("stream to {} ended: {}", state_.controller, status.error_message());
  }
  return Status::Ok();
}

void ControllerLink::ApplyUpdate(Session& session, const topos::v1::StoreUpdate& update) {
  Status applied = Status::Ok();
  if (update.content_unchanged()) {
    // Only the version moved: keep our content under it, if it is the
    // content the controller means; otherwise ask for the whole slice.
    auto current = local_store_->Current();
    if (current.ok() && current->content_sha256() == update.config().content_sha256()) {
      topos::v1::HostConfig next = *current;
      next.set_version(update.config().version());
      next.set_published_at_unix(update.config().published_at_unix());
      applied = local_store_->Apply(next, state_.host_fqdn);
    } else {
      applied = Status::FailedPrecondition(
          "version-only update does not match the local content; send the whole slice");
    }
  } else {
    applied = local_store_->Apply(update.config(), state_.host_fqdn);
  }
  topos::v1::AgentMessage reply;
  auto* ack = reply.mutable_store_applied();
  ack->set_version(local_store_->version());
  ack->set_ok(applied.ok());
  applied_version_ = local_store_->version();
  if (applied.ok()) {
    ++updates_applied_;
    spdlog::info("local store now at version {}", local_store_->version());
  } else {
    ack->set_error(applied.message().substr(0, 1024));
    spdlog::warn("refused local store version {}: {}", update.config().version(),
                 applied.message());
  }
  session.Send(std::move(reply));
}

bool ControllerLink::HandleCommand(Session& session, const topos::v1::ControllerMessage& command) {
  if (command.has_trust_update()) {
    ApplyTrust(session, command.trust_update());
    return false;
  }
  if (command.has_renew_identity()) {
    spdlog::info("controller asked for a new identity certificate ({})",
                 command.renew_identity().reason());
    return RenewIfDue(/*now=*/true);
  }
  if (command.has_cancel_step()) {
    if (options_.steps != nullptr) options_.steps->Cancel(command.cancel_step().step_id());
    return false;
  }
  if (options_.steps != nullptr) {
    options_.steps->Submit(command.run_step());
    return false;
  }
  topos::v1::AgentMessage refusal;
  auto* update = refusal.mutable_step_update();
  update->set_step_id(command.run_step().step_id());
  update->set_kind(command.run_step().kind());
  update->set_service(command.run_step().service());
  update->set_state(topos::v1::STEP_FAILED);
  update->mutable_result()->set_error("this agent runs no deployment steps");
  session.Send(std::move(refusal));
  return false;
}

void ControllerLink::ApplyTrust(Session& session, const topos::v1::TrustUpdate& update) {
  TrustFiles files(state_dir_.root());
  Status applied = files.Apply(update);
  topos::v1::AgentMessage reply;
  auto* ack = reply.mutable_trust_applied();
  ack->set_ok(applied.ok());
  if (applied.ok()) {
    state_.identity.ca_bundle_pem = update.ca_bundle_pem();  // for the next channel
    ++trust_updates_applied_;
    spdlog::info("trust bundle and CRL now at generation {}", update.generation());
    if (options_.on_trust_changed) options_.on_trust_changed(update.ca_bundle_pem(), update.crl_pem());
  } else {
    ack->set_error(applied.message().substr(0, 1024));
    spdlog::warn("refused trust update {}: {}", update.generation().substr(0, 64),
                 applied.message());
  }
  ack->set_generation(files.Generation());
  session.Send(std::move(reply));
}

bool ControllerLink::RenewIfDue(bool now) {
  if (!validity_.readable) return false;
  auto renew_at = RenewalTime(validity_.not_before, validity_.not_after,
                              options_.renew_at_fraction, renew_jitter_);
  if (!now && std::chrono::system_clock::now() < renew_at) return false;
  auto renewed = RenewOverMutualTls(state_, options_.private_connection);
  if (!renewed.ok()) {
    spdlog::warn("certificate renewal failed, will retry: {}", renewed.status().message());
    return false;
  }
  if (!AdoptIdentity(renewed->certificate_pem, renewed->private_key_pem, renewed->ca_bundle_pem)) {
    return false;
  }
  ++renewals_;
  spdlog::info("renewed identity certificate, new serial {}", renewed->serial_hex);
  return true;
}

Status ControllerLink::RecoverIdentity(bool* final) {
  *final = false;
  spdlog::warn("the identity certificate of {} has expired; asking {} to recover it",
               state_.host_fqdn, state_.controller);
  auto recovered = RecoverExpiredIdentity(state_, options_.private_connection);
  if (!recovered.ok()) {
    const Status& status = recovered.status();
    bool refused = status.code() == Status::Code::kFailedPrecondition ||
                   status.code() == Status::Code::kPermissionDenied;
    if (refused && status.message().rfind("not expired", 0) == 0) {
      return Status::Ok();  // the controller's clock says otherwise: try mutual TLS
    }
    if (refused) {
      *final = true;
      return status.WithContext("the controller refused to recover the identity of " +
                                        state_.host_fqdn);
    }
    spdlog::warn("identity recovery failed, will retry: {}", status.message());
    return status;
  }
  if (!AdoptIdentity(recovered->certificate_pem, recovered->private_key_pem,
                     recovered->ca_bundle_pem)) {
    return Status::Internal("could not save the recovered identity");
  }
  ++recoveries_;
  spdlog::info("recovered the identity of {}, new serial {}", state_.host_fqdn,
               recovered->serial_hex);
  return Status::Ok();
}

bool ControllerLink::AdoptIdentity(const std::string& certificate_pem, const std::string& key_pem,
                                   const std::string& ca_bundle_pem) {
  Status saved = state_dir_.ReplaceIdentity(certificate_pem, key_pem, ca_bundle_pem);
  if (!saved.ok()) {
    spdlog::error("could not save the new identity certificate: {}", saved.message());
    return false;
  }
  state_.identity = TlsIdentity{ca_bundle_pem, certificate_pem, key_pem};
  validity_ = IdentityValidity::Of(certificate_pem);
  return true;
}

}  // namespace topos::agent
