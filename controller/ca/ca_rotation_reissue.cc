// CaRotation, phase 2 (reissue): the new CA becomes the signing CA, the
// controller's own certificates and the CRL follow, agents renew their
// identities in batches and one certificate rollout reissues the service
// certificates. Split from ca_rotation.cc for size; same class.
#include <spdlog/spdlog.h>

#include <set>

#include "controller/ca/ca_rotation.h"
#include "controller/ca/controller_certificates.h"

namespace topos::controller {
namespace {

constexpr char kRetire[] = "retire";
constexpr char kPaused[] = "paused";
constexpr char kSucceeded[] = "succeeded";

void SetWaiting(v1::CaRotation& rotation, const std::vector<std::string>& hosts) {
  rotation.clear_waiting_for();
  for (std::size_t i = 0; i < hosts.size() && i < kMaxWaitingFor; ++i) {
    rotation.add_waiting_for(hosts[i]);
  }
}

}  // namespace

Status CaRotation::EnsurePromoted() {
  TOPOS_RETURN_IF_ERROR(keyring_.PromoteNext().WithContext("making the new CA the signing CA"));
  signed_by_current_.clear();
  const auto signing = keyring_.signing();
  bool reissued = false;
  TOPOS_RETURN_IF_ERROR(
      EnsureServerCertificate(options_.data_dir / "server", *signing, store_, &reissued));
  TOPOS_RETURN_IF_ERROR(
      EnsureOperatorCertificate(options_.data_dir / "admin", *signing, store_, &reissued));
  TOPOS_RETURN_IF_ERROR(fleet_.ResignCrl().WithContext("re-signing the CRL with the new CA"));
  const std::string bundle = keyring_.BundlePem();
  fleet_.PublishBundle(bundle);
  TOPOS_RETURN_IF_ERROR(WriteOperatorBundle(options_.data_dir / "admin", bundle));
  if (rotation_->new_ca_fingerprint().empty()) {
    rotation_->set_new_ca_fingerprint(ColonFingerprint(signing->certificate()));
  }
  promoted_ = true;
  return Status::Ok();
}

void CaRotation::TickReissue() {
  if (!promoted_) {
    if (Status promoted = EnsurePromoted(); !promoted.ok()) {
      SetMessage("retrying: " + promoted.message());
      return;
    }
  }
  // Service certificates: one rollout reissues them all.
  bool certificates_done = no_service_certificates_;
  std::string certificates_note;
  if (!no_service_certificates_ && rotation_->certificate_rollout_id().empty()) {
    auto started = fleet_.StartCertificateRollout(rotation_->started_by());
    if (!started.ok()) {
      certificates_note = "; the certificate rollout cannot start yet: " + started.status().message();
    } else if (started->empty()) {
      no_service_certificates_ = certificates_done = true;
    } else {
      rotation_->set_certificate_rollout_id(*started);
      Save();
    }
  }
  if (!rotation_->certificate_rollout_id().empty()) {
    auto state = fleet_.GetRolloutState(rotation_->certificate_rollout_id());
    if (!state.ok()) {
      certificates_note = "; certificate rollout: " + state.status().message();
    } else if (state->done && state->state == kSucceeded) {
      certificates_done = true;
    } else if (state->done) {
      rotation_->set_state(kPaused);
      SetMessage("certificate rollout " + rotation_->certificate_rollout_id() + " " +
                 state->state + (state->reason.empty() ? "" : ": " + state->reason) +
                 "; fix the cause, then `toposctl ca resume` starts a new one");
      return;
    } else {
      certificates_note = "; certificate rollout " + rotation_->certificate_rollout_id() + " " +
                          state->state;
    }
  }

  std::vector<std::string> pending;
  if (Status counted = CountIdentities(&pending); !counted.ok()) {
    SetMessage("retrying: " + counted.message());
    return;
  }
  RequestRenewals(pending);
  if (pending.empty() && certificates_done) {
    rotation_->set_phase(kRetire);
    rotation_->clear_waiting_for();
    SetMessage("every certificate is signed by the new CA; the old CA leaves the bundles");
    Save();
    return;
  }
  SetMessage("identities reissued: " + std::to_string(rotation_->identities_reissued()) + " of " +
             std::to_string(rotation_->identities_total()) + certificates_note);
}

Status CaRotation::CountIdentities(std::vector<std::string>* pending) {
  auto hosts = store_.ListHosts();
  if (!hosts.ok()) return hosts.status().WithContext("listing hosts");
  std::uint32_t total = 0, reissued = 0;
  for (const auto& host : *hosts) {
    if (host.removed_at) continue;
    ++total;
    if (SignedByCurrent(host.certificate_serial)) {
      ++reissued;
    } else {
      pending->push_back(host.fqdn);
    }
  }
  rotation_->set_identities_total(total);
  rotation_->set_identities_reissued(reissued);
  SetWaiting(*rotation_, *pending);
  return Status::Ok();
}

bool CaRotation::SignedByCurrent(const std::string& serial) {
  if (auto found = signed_by_current_.find(serial); found != signed_by_current_.end()) {
    return found->second;
  }
  auto record = store_.GetCertificate(serial);
  if (!record.ok()) return false;  // not cached: the store may answer later
  auto certificate = certs::Certificate::FromPem(record->pem);
  const bool good =
      certificate.ok() && certs::VerifyChain(*certificate, {keyring_.signing()->certificate()}, {},
                                             certs::Usage::kClient, options_.clock())
                              .ok();
  signed_by_current_[serial] = good;
  return good;
}

void CaRotation::RequestRenewals(const std::vector<std::string>& pending) {
  const TimePoint now = options_.clock();
  const std::set<std::string> waiting(pending.begin(), pending.end());
  // Forget hosts that are done and requests that went unanswered too long.
  for (auto it = renewal_sent_.begin(); it != renewal_sent_.end();) {
    const bool expired = now - it->second >= options_.renewal_timeout;
    it = (!waiting.count(it->first) || expired) ? renewal_sent_.erase(it) : std::next(it);
  }
  const auto connected_list = fleet_.ConnectedHosts();
  const std::set<std::string> connected(connected_list.begin(), connected_list.end());
  for (const auto& fqdn : pending) {
    if (renewal_sent_.size() >= rotation_->batch_size()) break;
    if (renewal_sent_.count(fqdn) || !connected.count(fqdn)) continue;
    if (fleet_.RequestRenewal(fqdn)) renewal_sent_[fqdn] = now;
  }
}

}  // namespace topos::controller
