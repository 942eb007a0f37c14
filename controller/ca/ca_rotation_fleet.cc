#include "controller/ca/ca_rotation_fleet.h"

#include <chrono>

namespace topos::controller {
namespace {

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

void ControllerCaFleet::PublishBundle(const std::string& bundle_pem) {
  trust_.PublishBundle(bundle_pem);
}

CaRotationFleet::Trust ControllerCaFleet::CheckTrust() {
  TrustPublisher::Convergence convergence = trust_.Check(/*bundle_only=*/true);
  return {convergence.online, convergence.confirmed, std::move(convergence.waiting)};
}

std::vector<std::string> ControllerCaFleet::ConnectedHosts() { return hub_.ConnectedHosts(); }

bool ControllerCaFleet::RequestRenewal(const std::string& fqdn) {
  topos::v1::ControllerMessage message;
  message.mutable_renew_identity()->set_reason("CA rotation: the new CA must sign every identity");
  return hub_.Send(fqdn, std::move(message));
}

Status ControllerCaFleet::ResignCrl() { return crl_.Refresh(std::chrono::system_clock::now()); }

Result<std::string> ControllerCaFleet::StartCertificateRollout(const std::string& actor) {
  v1::StartCertificateRolloutRequest request;
  request.set_all(true);
  request.set_reissue(true);
  request.mutable_strategy()->set_max_unavailable("10%");
  auto started = rollouts_.StartCertificates(request, actor);
  if (!started.ok()) {
    // Nothing to reissue: no topology, or no service with a certificate.
    const Status& status = started.status();
    if (status.code() == Status::Code::kFailedPrecondition &&
        (StartsWith(status.message(), "no certificate to renew") ||
         StartsWith(status.message(), "no topology is published"))) {
      return std::string();
    }
    return status;
  }
  return started->rollout().id();
}

Result<CaRotationFleet::RolloutState> ControllerCaFleet::GetRolloutState(const std::string& id) {
  auto rollout = rollouts_.Get(id);
  if (!rollout.ok()) return rollout.status();
  return RolloutState{rollout->state(), rollout->done(), rollout->stop_reason()};
}

}  // namespace topos::controller
