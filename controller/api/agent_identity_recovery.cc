// AgentService.RecoverIdentity: re-issues the identity of an agent whose
// certificate expired while it was offline (see identity_recovery_policy.h).

#include <spdlog/spdlog.h>

#include "controller/api/agent_service.h"
#include "controller/api/caller.h"
#include "controller/ca/identity_recovery_policy.h"

namespace topos::controller {

grpc::ServerUnaryReactor* AgentServiceHandler::RecoverIdentity(
    grpc::CallbackServerContext* context, const topos::v1::RecoverIdentityRequest* request,
    topos::v1::RenewResponse* response) {
  auto* reactor = context->DefaultReactor();
  context_.executor.Post([this, reactor, request, response] {
    reactor->Finish(DoRecoverIdentity(*request, response));
  });
  return reactor;
}

grpc::Status AgentServiceHandler::DoRecoverIdentity(
    const topos::v1::RecoverIdentityRequest& request, topos::v1::RenewResponse* response) {
  auto roots = certs::Certificate::BundleFromPem(context_.issuer.CaBundlePem());
  if (!roots.ok()) return ToGrpc(roots.status().WithContext("the controller's CA bundle"));
  RecoveryRequest recovery{request.certificate_pem(), request.csr_pem(), request.signed_at_unix(),
                           request.proof()};
  RecoveryFacts facts;
  facts.roots = std::move(*roots);
  facts.grace = context_.identity_grace;
  facts.find_host = [this](const std::string& fqdn) { return context_.store.GetHost(fqdn); };
  facts.is_revoked = [this](const std::string& serial) {
    return context_.revocations.IsRevoked(serial);
  };

  std::lock_guard lock(recovery_mutex_);
  facts.now = std::chrono::system_clock::now();
  auto grant = CheckIdentityRecovery(recovery, facts);
  if (!grant.ok()) {
    spdlog::warn("identity recovery refused: {}", grant.status().message());
    return ToGrpc(grant.status());
  }
  auto issued = context_.issuer.IssueAgentIdentity(grant->csr, grant->host_fqdn);
  if (!issued.ok()) return ToGrpc(issued.status());
  Status stored = context_.store.RecordRenewal(grant->host_fqdn, issued->record);
  if (!stored.ok()) return ToGrpc(stored);
  spdlog::info("host={} recovered its identity: certificate {} expired {}, new serial {}",
               grant->host_fqdn, grant->old_serial, FormatUtc(grant->old_not_after),
               issued->record.serial);
  response->set_certificate_pem(issued->certificate.ToPem());
  response->set_ca_bundle_pem(context_.issuer.CaBundlePem());
  return grpc::Status::OK;
}

}  // namespace topos::controller
