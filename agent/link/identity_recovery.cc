#include "agent/link/identity_recovery.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "certs/certificate.h"
#include "certs/csr.h"
#include "certs/private_key.h"
#include "certs/signature.h"
#include "common/grpc_tls.h"
#include "topos/v1/agent.grpc.pb.h"

namespace topos::agent {
namespace {

// The controller's answer as our Status, keeping its message.
Status FromGrpc(const grpc::Status& status) {
  using G = grpc::StatusCode;
  const std::string& m = status.error_message();
  switch (status.error_code()) {
    case G::OK: return Status::Ok();
    case G::INVALID_ARGUMENT: return Status::InvalidArgument(m);
    case G::NOT_FOUND: return Status::NotFound(m);
    case G::ALREADY_EXISTS: return Status::AlreadyExists(m);
    case G::PERMISSION_DENIED: return Status::PermissionDenied(m);
    case G::UNAUTHENTICATED: return Status::Unauthenticated(m);
    case G::FAILED_PRECONDITION: return Status::FailedPrecondition(m);
    case G::INTERNAL: return Status::Internal(m);
    default: return Status::Unavailable(m);  // UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED...
  }
}

// Checks the answer: it parses and belongs to `key`.
Result<NewIdentity> Accept(const topos::v1::RenewResponse& response, const certs::PrivateKey& key) {
  auto certificate = certs::Certificate::FromPem(response.certificate_pem());
  if (!certificate.ok() || !certificate->MatchesKey(key)) {
    return Status::Internal("the controller returned an unusable certificate");
  }
  auto bundle = certs::Certificate::BundleFromPem(response.ca_bundle_pem());
  if (!bundle.ok()) {
    return Status::Internal("the controller returned an unusable CA bundle: " +
                            bundle.status().message());
  }
  return NewIdentity{response.certificate_pem(), key.ToPem(), response.ca_bundle_pem(),
                     certificate->serial_hex()};
}

}  // namespace

std::chrono::system_clock::time_point RenewalTime(std::chrono::system_clock::time_point not_before,
                                                  std::chrono::system_clock::time_point not_after,
                                                  double renew_at_fraction, double jitter) {
  double fraction = renew_at_fraction - std::clamp(jitter, 0.0, std::max(renew_at_fraction, 0.0));
  auto lifetime = not_after - not_before;
  return not_before + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                          lifetime * std::max(fraction, 0.0));
}

double DrawRenewJitter(double max_jitter, std::mt19937_64& random) {
  if (!(max_jitter > 0)) return 0;
  double u = std::uniform_real_distribution<double>(0.0, max_jitter)(random);
  return u < max_jitter ? u : 0;  // uniform_real_distribution may round up to the bound
}

IdentityValidity IdentityValidity::Of(const std::string& certificate_pem) {
  IdentityValidity validity;
  auto certificate = certs::Certificate::FromPem(certificate_pem);
  if (!certificate.ok()) return validity;
  validity.readable = true;
  validity.not_before = certificate->not_before();
  validity.not_after = certificate->not_after();
  return validity;
}

std::string RecoveryProofText(std::int64_t signed_at_unix, const std::string& csr_pem) {
  return "topos-recover-identity\n" + std::to_string(signed_at_unix) + "\n" + csr_pem;
}

Result<NewIdentity> RenewOverMutualTls(const AgentState& state, bool private_connection) {
  auto key = certs::PrivateKey::Generate();
  if (!key.ok()) return key.status();
  auto csr = certs::Csr::Create(*key, state.host_fqdn, {state.host_fqdn});
  if (!csr.ok()) return csr.status();
  auto stub = topos::v1::AgentService::NewStub(
      MakeChannel(state.controller, MakeMutualTlsCredentials(state.identity), private_connection));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kDefaultCallTimeout);
  topos::v1::RenewRequest request;
  request.set_csr_pem(csr->ToPem());
  topos::v1::RenewResponse response;
  grpc::Status status = stub->Renew(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return Accept(response, *key);
}

Result<NewIdentity> RecoverExpiredIdentity(const AgentState& state, bool private_connection,
                                           std::chrono::system_clock::time_point now) {
  auto old_key = certs::PrivateKey::FromPem(state.identity.private_key_pem);
  if (!old_key.ok()) return old_key.status().WithContext("the identity key");
  auto key = certs::PrivateKey::Generate();
  if (!key.ok()) return key.status();
  auto csr = certs::Csr::Create(*key, state.host_fqdn, {state.host_fqdn});
  if (!csr.ok()) return csr.status();
  topos::v1::RecoverIdentityRequest request;
  request.set_certificate_pem(state.identity.certificate_pem);
  request.set_csr_pem(csr->ToPem());
  request.set_signed_at_unix(
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  auto proof =
      certs::SignMessage(*old_key, RecoveryProofText(request.signed_at_unix(), request.csr_pem()));
  if (!proof.ok()) return proof.status();
  request.set_proof(*proof);

  auto stub = topos::v1::AgentService::NewStub(
      MakeChannel(state.controller, MakeServerOnlyTlsCredentials(state.identity.ca_bundle_pem),
                  private_connection));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kDefaultCallTimeout);
  topos::v1::RenewResponse response;
  grpc::Status status = stub->RecoverIdentity(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return Accept(response, *key);
}

}  // namespace topos::agent
