#include "controller/hub/trust_publisher.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "certs/crypto.h"

namespace topos::controller {

std::string TrustGeneration(const std::string& ca_bundle_pem, const std::string& crl_pem) {
  return certs::Sha256Hex(ca_bundle_pem + crl_pem);
}

void TrustPublisher::PublishBundle(std::string ca_bundle_pem) {
  std::lock_guard lock(mutex_);
  if (ca_bundle_pem == bundle_pem_) return;
  bundle_pem_ = std::move(ca_bundle_pem);
  PushToAllLocked();
}

void TrustPublisher::PublishCrl(std::string crl_pem) {
  std::lock_guard lock(mutex_);
  if (crl_pem == crl_pem_) return;
  crl_pem_ = std::move(crl_pem);
  PushToAllLocked();
}

std::string TrustPublisher::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

std::string TrustPublisher::bundle_pem() const {
  std::lock_guard lock(mutex_);
  return bundle_pem_;
}

topos::v1::ControllerMessage TrustPublisher::UpdateLocked() const {
  topos::v1::ControllerMessage message;
  auto* update = message.mutable_trust_update();
  update->set_generation(generation_);
  update->set_ca_bundle_pem(bundle_pem_);
  update->set_crl_pem(crl_pem_);
  return message;
}

// Sending under our lock keeps pushes in generation order; the hub's Send
// only queues on the stream, it never calls back into us.
void TrustPublisher::PushToAllLocked() {
  generation_ = TrustGeneration(bundle_pem_, crl_pem_);
  bundle_of_generation_[generation_] = bundle_pem_;
  if (bundle_pem_.empty()) return;  // not configured yet: nothing to trust
  auto message = UpdateLocked();
  std::size_t sent = 0;
  for (const auto& fqdn : hub_.ConnectedHosts()) {
    if (held_[fqdn] == generation_) continue;
    if (hub_.Send(fqdn, message)) ++sent;
  }
  spdlog::info("trust generation {} (bundle and CRL) sent to {} connected agents",
               generation_.substr(0, 12), sent);
}

void TrustPublisher::OnHello(const std::string& fqdn, const std::string& agent_generation) {
  std::lock_guard lock(mutex_);
  held_[fqdn] = agent_generation;
  if (bundle_pem_.empty() || agent_generation == generation_) return;
  hub_.Send(fqdn, UpdateLocked());
}

void TrustPublisher::OnApplied(const std::string& fqdn, const topos::v1::TrustApplied& applied) {
  std::lock_guard lock(mutex_);
  if (!applied.ok()) {
    spdlog::warn("host={} refused trust generation {}: {}", fqdn,
                 applied.generation().substr(0, 12), applied.error());
    return;
  }
  held_[fqdn] = applied.generation();
}

TrustPublisher::Convergence TrustPublisher::Check(bool bundle_only) const {
  std::lock_guard lock(mutex_);
  Convergence result;
  result.generation = generation_;
  auto online = hub_.ConnectedHosts();
  std::sort(online.begin(), online.end());
  for (const auto& fqdn : online) {
    ++result.online;
    bool confirmed = false;
    if (auto held = held_.find(fqdn); held != held_.end()) {
      if (held->second == generation_) {
        confirmed = true;
      } else if (bundle_only) {
        auto bundle = bundle_of_generation_.find(held->second);
        confirmed = bundle != bundle_of_generation_.end() && bundle->second == bundle_pem_;
      }
    }
    if (confirmed) {
      ++result.confirmed;
    } else {
      result.waiting.push_back(fqdn);
    }
  }
  return result;
}

}  // namespace topos::controller
