#include "controller/api/agent_service.h"

#include <spdlog/spdlog.h>

#include "certs/csr.h"
#include "common/text.h"
#include "controller/api/caller.h"
#include "controller/hub/agent_stream.h"

namespace topos::controller {
namespace {

constexpr std::size_t kMaxCsrBytes = 16 * 1024;
constexpr std::size_t kMaxTokenBytes = 256;

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

// A bidi reactor that ends the stream at once with `status`.
class RefusedStream final
    : public grpc::ServerBidiReactor<topos::v1::AgentMessage, topos::v1::ControllerMessage> {
 public:
  explicit RefusedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerUnaryReactor* AgentServiceHandler::GetCaBundle(
    grpc::CallbackServerContext* context, const topos::v1::GetCaBundleRequest*,
    topos::v1::GetCaBundleResponse* response) {
  response->set_ca_bundle_pem(context_.issuer.CaBundlePem());
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AgentServiceHandler::Enroll(grpc::CallbackServerContext* context,
                                                      const topos::v1::EnrollRequest* request,
                                                      topos::v1::EnrollResponse* response) {
  auto* reactor = context->DefaultReactor();
  context_.executor.Post(
      [this, reactor, request, response] { reactor->Finish(DoEnroll(*request, response)); });
  return reactor;
}

grpc::Status AgentServiceHandler::DoEnroll(const topos::v1::EnrollRequest& request,
                                           topos::v1::EnrollResponse* response) {
  if (request.token().empty() || request.token().size() > kMaxTokenBytes) {
    return Invalid("token is missing or longer than 256 bytes");
  }
  if (Status fqdn = CheckFqdn(request.host_fqdn()); !fqdn.ok()) return Invalid(fqdn.message());
  if (request.csr_pem().empty() || request.csr_pem().size() > kMaxCsrBytes) {
    return Invalid("csr_pem is missing or larger than 16 KiB");
  }
  auto now = std::chrono::system_clock::now();
  auto token = context_.tokens.Check(request.token(), request.host_fqdn(), now);
  if (!token.ok()) {
    spdlog::warn("host={} enrollment refused: {}", request.host_fqdn(), token.status().message());
    return ToGrpc(token.status());
  }
  auto csr = certs::Csr::FromPem(request.csr_pem());
  if (!csr.ok()) return Invalid("bad CSR: " + csr.status().message());
  auto issued = context_.issuer.IssueAgentIdentity(*csr, request.host_fqdn());
  if (!issued.ok()) return ToGrpc(issued.status());

  HostRecord host;
  host.fqdn = request.host_fqdn();
  host.enrolled_at = now;
  host.agent_version = request.facts().agent_version().substr(0, 256);
  host.certificate_serial = issued->record.serial;
  host.certificate_not_after = issued->record.not_after;
  Status stored = context_.store.CompleteEnrollment(token->id, host, issued->record, now);
  if (!stored.ok()) {
    spdlog::warn("host={} enrollment refused: {}", host.fqdn, stored.message());
    return ToGrpc(stored);
  }
  spdlog::info("host={} enrolled, certificate serial {}", host.fqdn, issued->record.serial);
  response->set_certificate_pem(issued->certificate.ToPem());
  response->set_ca_bundle_pem(context_.issuer.CaBundlePem());
  response->set_host_id(host.fqdn);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* AgentServiceHandler::Renew(grpc::CallbackServerContext* context,
                                                     const topos::v1::RenewRequest* request,
                                                     topos::v1::RenewResponse* response) {
  auto* reactor = context->DefaultReactor();
  context_.executor.Post([this, reactor, context, request, response] {
    reactor->Finish(DoRenew(context, *request, response));
  });
  return reactor;
}

grpc::Status AgentServiceHandler::DoRenew(grpc::CallbackServerContext* context,
                                          const topos::v1::RenewRequest& request,
                                          topos::v1::RenewResponse* response) {
  Caller caller;
  grpc::Status identified = IdentifyCaller(*context, context_.revocations, kAgentUnit, &caller);
  if (!identified.ok()) return identified;
  if (request.csr_pem().empty() || request.csr_pem().size() > kMaxCsrBytes) {
    return Invalid("csr_pem is missing or larger than 16 KiB");
  }
  auto csr = certs::Csr::FromPem(request.csr_pem());
  if (!csr.ok()) return Invalid("bad CSR: " + csr.status().message());
  auto issued = context_.issuer.IssueAgentIdentity(*csr, caller.subject);
  if (!issued.ok()) return ToGrpc(issued.status());
  Status stored = context_.store.RecordRenewal(caller.subject, issued->record);
  if (!stored.ok()) return ToGrpc(stored);
  spdlog::info("host={} renewed its certificate, new serial {}", caller.subject,
               issued->record.serial);
  response->set_certificate_pem(issued->certificate.ToPem());
  response->set_ca_bundle_pem(context_.issuer.CaBundlePem());
  return grpc::Status::OK;
}

grpc::ServerBidiReactor<topos::v1::AgentMessage, topos::v1::ControllerMessage>*
AgentServiceHandler::Connect(grpc::CallbackServerContext* context) {
  Caller caller;
  grpc::Status identified = IdentifyCaller(*context, context_.revocations, kAgentUnit, &caller);
  if (!identified.ok()) {
    spdlog::warn("refused agent stream: {}", identified.error_message());
    return new RefusedStream(identified);
  }
  return new AgentStream(context_.hub, caller.subject);
}

}  // namespace topos::controller
