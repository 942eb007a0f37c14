#include "controller/ca/ca_rotation.h"

#include <spdlog/spdlog.h>

#include <ctime>

#include "certs/crypto.h"
#include "controller/ca/controller_certificates.h"

namespace topos::controller {
namespace {

constexpr char kTrust[] = "trust";
constexpr char kReissue[] = "reissue";
constexpr char kRetire[] = "retire";
constexpr char kDone[] = "done";
constexpr char kRunning[] = "running";
constexpr char kPaused[] = "paused";
constexpr char kSucceeded[] = "succeeded";

std::int64_t Unix(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// "Topos CA <name> <date> <8 hex>": every CA of a controller has its own
// subject, so certificates tell which one issued them.
std::string NewCaSubject(const std::string& controller_name, TimePoint now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[16];
  std::strftime(date, sizeof date, "%Y-%m-%d", &tm);
  return "Topos CA " + controller_name + " " + date + " " + certs::HexEncode(certs::RandomBytes(4));
}

void SetWaiting(v1::CaRotation& rotation, const std::vector<std::string>& hosts) {
  rotation.clear_waiting_for();
  for (std::size_t i = 0; i < hosts.size() && i < kMaxWaitingFor; ++i) {
    rotation.add_waiting_for(hosts[i]);
  }
}

}  // namespace

CaRotation::CaRotation(Store& store, CaKeyring& keyring, CaRotationFleet& fleet,
                       CaRotationOptions options)
    : store_(store), keyring_(keyring), fleet_(fleet), options_(std::move(options)) {}

CaRotation::~CaRotation() { Stop(); }

bool CaRotation::Unfinished() const {
  return rotation_ && (rotation_->state() == kRunning || rotation_->state() == kPaused);
}

Status CaRotation::Save() {
  CaRotationRecord record{rotation_->id(), created_at_, options_.clock(),
                          rotation_->SerializeAsString()};
  Status saved = store_.SaveCaRotation(record);
  if (!saved.ok()) spdlog::error("CA rotation {}: not stored: {}", rotation_->id(), saved.message());
  return saved;
}

void CaRotation::SetMessage(const std::string& message) {
  if (rotation_->message() != message) {
    spdlog::info("CA rotation {} ({}): {}", rotation_->id(), rotation_->phase(), message);
  }
  rotation_->set_message(message);
}

Status CaRotation::Recover() {
  std::lock_guard lock(mutex_);
  auto stored = store_.ListCaRotations();
  if (!stored.ok()) return stored.status().WithContext("loading CA rotations");
  if (!stored->empty()) {
    v1::CaRotation rotation;
    if (!rotation.ParseFromString(stored->front().snapshot)) {
      spdlog::error("CA rotation {}: stored record unreadable; left alone", stored->front().id);
    } else {
      rotation_ = rotation;
      created_at_ = stored->front().created_at;
      if (Unfinished()) {
        spdlog::info("CA rotation {} resumes in phase {} ({})", rotation.id(), rotation.phase(),
                     rotation.state());
      }
    }
  }
  // A crash between promoting the CA and reissuing our own certificates
  // leaves them signed by the old CA; fix that before serving.
  const auto signing = keyring_.signing();
  bool reissued = false;
  Status server = EnsureServerCertificate(options_.data_dir / "server", *signing, store_, &reissued);
  if (!server.ok()) spdlog::error("controller server certificate: {}", server.message());
  Status admin = EnsureOperatorCertificate(options_.data_dir / "admin", *signing, store_, &reissued);
  if (!admin.ok()) spdlog::error("operator certificate: {}", admin.message());
  return Status::Ok();
}

Result<v1::CaRotation> CaRotation::Begin(std::uint32_t batch_size, const std::string& actor) {
  std::unique_lock lock(mutex_);
  if (Unfinished()) {
    return Status::FailedPrecondition("CA rotation " + rotation_->id() + " is " +
                                      rotation_->state() + " in phase " + rotation_->phase() +
                                      "; resume it or wait until it is done (toposctl ca status)");
  }
  if (keyring_.previous()) {
    return Status::FailedPrecondition(
        "the previous CA is still trusted (DIR/ca/previous.pem) without a rotation under way; "
        "remove it by hand once no certificate it issued is in use");
  }
  const TimePoint now = options_.clock();
  v1::CaRotation rotation;
  rotation.set_id("ca-" + certs::HexEncode(certs::RandomBytes(6)));
  rotation.set_phase(kTrust);
  rotation.set_state(kRunning);
  rotation.set_old_ca_fingerprint(ColonFingerprint(keyring_.signing()->certificate()));
  rotation.set_started_at_unix(Unix(now));
  rotation.set_started_by(actor);
  rotation.set_batch_size(batch_size == 0 ? kDefaultCaRotationBatch : batch_size);
  rotation.set_message("creating the new CA");
  TOPOS_RETURN_IF_ERROR(
      store_.CreateCaRotation({rotation.id(), now, now, rotation.SerializeAsString()}));
  spdlog::info("operator={} started CA rotation {} (batches of {})", actor, rotation.id(),
               rotation.batch_size());
  rotation_ = rotation;
  created_at_ = now;
  promoted_ = retired_ = no_service_certificates_ = false;
  trust_published_at_.reset();
  renewal_sent_.clear();
  signed_by_current_.clear();
  TickTrust();  // creates and publishes the new CA at once
  Save();
  v1::CaRotation answer = *rotation_;
  lock.unlock();
  WakeRunner();
  return answer;
}

Result<v1::CaRotation> CaRotation::Control(v1::CaRotationAction action, const std::string& actor) {
  std::unique_lock lock(mutex_);
  if (action != v1::CA_ROTATION_PAUSE && action != v1::CA_ROTATION_RESUME) {
    return Status::InvalidArgument("the action must be pause or resume");
  }
  if (!Unfinished()) {
    return Status::FailedPrecondition("no CA rotation is under way (toposctl ca rotate starts one)");
  }
  if (action == v1::CA_ROTATION_PAUSE && rotation_->state() == kRunning) {
    rotation_->set_state(kPaused);
    SetMessage("paused by " + actor + " in phase " + rotation_->phase());
    TOPOS_RETURN_IF_ERROR(Save());
  } else if (action == v1::CA_ROTATION_RESUME && rotation_->state() == kPaused) {
    // A failed certificate rollout is replaced by a new one.
    if (rotation_->phase() == kReissue && !rotation_->certificate_rollout_id().empty()) {
      auto state = fleet_.GetRolloutState(rotation_->certificate_rollout_id());
      if (!state.ok() || (state->done && state->state != kSucceeded)) {
        rotation_->clear_certificate_rollout_id();
      }
    }
    no_service_certificates_ = false;
    rotation_->set_state(kRunning);
    SetMessage("resumed by " + actor + " in phase " + rotation_->phase());
    TOPOS_RETURN_IF_ERROR(Save());
  }
  v1::CaRotation answer = *rotation_;
  lock.unlock();
  WakeRunner();
  return answer;
}

v1::GetCaStatusResponse CaRotation::Describe() {
  v1::GetCaStatusResponse response;
  {
    std::lock_guard lock(mutex_);
    if (rotation_) *response.mutable_rotation() = *rotation_;
  }
  const auto signing = keyring_.signing();
  response.set_ca_fingerprint(ColonFingerprint(signing->certificate()));
  for (const auto& fingerprint : keyring_.TrustedFingerprints()) {
    response.add_trusted_fingerprints(fingerprint);
  }
  response.set_ca_not_after_unix(Unix(signing->certificate().not_after()));
  return response;
}

void CaRotation::WakeRunner() {
  {
    std::lock_guard wake_lock(thread_mutex_);
    woken_ = true;
  }
  wake_.notify_all();
}

void CaRotation::Tick() {
  std::lock_guard lock(mutex_);
  if (!rotation_ || rotation_->state() != kRunning) return;
  const std::string before = rotation_->SerializeAsString();
  const std::string phase = rotation_->phase();
  if (phase == kTrust) {
    TickTrust();
  } else if (phase == kReissue) {
    TickReissue();
  } else if (phase == kRetire) {
    TickRetire();
  }
  // A phase the store did not take must not be acted on: back to what is
  // stored, and the next tick tries again.
  if (rotation_->SerializeAsString() != before && !Save().ok()) rotation_->ParseFromString(before);
}

void CaRotation::TickTrust() {
  Status prepared = keyring_.PrepareNext(NewCaSubject(options_.controller_name, options_.clock()));
  if (!prepared.ok()) {
    SetMessage("cannot create the new CA (retrying): " + prepared.message());
    return;
  }
  if (auto next = keyring_.next(); next && rotation_->new_ca_fingerprint().empty()) {
    rotation_->set_new_ca_fingerprint(ColonFingerprint(*next));
  }
  const std::string bundle = keyring_.BundlePem();
  fleet_.PublishBundle(bundle);
  if (Status written = WriteOperatorBundle(options_.data_dir / "admin", bundle); !written.ok()) {
    SetMessage("cannot write the operator's CA bundle (retrying): " + written.message());
    return;
  }
  const TimePoint now = options_.clock();
  if (!trust_published_at_) trust_published_at_ = now;
  CaRotationFleet::Trust trust = fleet_.CheckTrust();
  rotation_->set_hosts_online(trust.online);
  rotation_->set_hosts_confirmed(trust.confirmed);
  SetWaiting(*rotation_, trust.waiting);
  if (trust.confirmed < trust.online) {
    SetMessage("waiting until every online host trusts both CAs: " +
               std::to_string(trust.confirmed) + " of " + std::to_string(trust.online));
    return;
  }
  if (now - *trust_published_at_ < options_.tls_settle) {
    SetMessage("every online host trusts both CAs (" + std::to_string(trust.online) +
               "); waiting for the controller's own TLS to load the new bundle");
    return;
  }
  // Stored before anything is done in the next phase.
  rotation_->set_phase(kReissue);
  rotation_->clear_waiting_for();
  SetMessage(std::to_string(trust.online) +
             " online hosts trust both CAs; the new CA signs from now on");
  Save();
}

Status CaRotation::EnsureRetired() {
  TOPOS_RETURN_IF_ERROR(keyring_.RetirePrevious().WithContext("removing the old CA"));
  // The trust CRL no longer carries the old CA's list.
  TOPOS_RETURN_IF_ERROR(fleet_.ResignCrl().WithContext("re-signing the CRL"));
  const std::string bundle = keyring_.BundlePem();
  fleet_.PublishBundle(bundle);
  TOPOS_RETURN_IF_ERROR(WriteOperatorBundle(options_.data_dir / "admin", bundle));
  retired_ = true;
  return Status::Ok();
}

void CaRotation::TickRetire() {
  if (!retired_) {
    if (Status retired = EnsureRetired(); !retired.ok()) {
      SetMessage("retrying: " + retired.message());
      return;
    }
  }
  CaRotationFleet::Trust trust = fleet_.CheckTrust();
  rotation_->set_hosts_online(trust.online);
  rotation_->set_hosts_confirmed(trust.confirmed);
  SetWaiting(*rotation_, trust.waiting);
  if (trust.confirmed < trust.online) {
    SetMessage("waiting until every online host drops the old CA: " +
               std::to_string(trust.confirmed) + " of " + std::to_string(trust.online));
    return;
  }
  rotation_->set_phase(kDone);
  rotation_->set_state(kSucceeded);
  rotation_->set_finished_at_unix(Unix(options_.clock()));
  rotation_->clear_waiting_for();
  SetMessage("the new CA is the only one trusted");
  Save();
}

void CaRotation::Start() {
  std::lock_guard lock(thread_mutex_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void CaRotation::Stop() {
  {
    std::lock_guard lock(thread_mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CaRotation::Run() {
  std::unique_lock lock(thread_mutex_);
  while (!stop_) {
    woken_ = false;
    lock.unlock();
    Tick();
    lock.lock();
    wake_.wait_for(lock, options_.tick_interval, [this] { return stop_ || woken_; });
  }
}

}  // namespace topos::controller
