// AgentService.RequestCertificate: service certificates for agents.
#include <spdlog/spdlog.h>

#include "controller/api/agent_service.h"
#include "controller/api/caller.h"

namespace topos::controller {
namespace {

void Describe(const CertificateRequestRecord& request, const std::string& ca_bundle,
              topos::v1::CertificateReply* reply) {
  reply->set_request_id(request.id);
  reply->set_reason(request.reason);
  switch (request.state) {
    case CertificateRequestState::kIssued:
      reply->set_state(topos::v1::CERTIFICATE_ISSUED);
      reply->set_certificate_pem(request.certificate_pem);
      reply->set_ca_bundle_pem(ca_bundle);
      break;
    case CertificateRequestState::kPending:
      reply->set_state(topos::v1::CERTIFICATE_PENDING);
      break;
    case CertificateRequestState::kDenied:
      reply->set_state(topos::v1::CERTIFICATE_DENIED);
      break;
  }
}

}  // namespace

grpc::ServerUnaryReactor* AgentServiceHandler::RequestCertificate(
    grpc::CallbackServerContext* context, const topos::v1::CertificateRequest* request,
    topos::v1::CertificateReply* response) {
  auto* reactor = context->DefaultReactor();
  context_.executor.Post([this, reactor, context, request, response] {
    Caller caller;
    grpc::Status status = IdentifyCaller(*context, context_.revocations, kAgentUnit, &caller);
    if (!status.ok()) {
      reactor->Finish(status);
      return;
    }
    if (request->request_id().size() > 64) {
      reactor->Finish(ToGrpc(Status::InvalidArgument("request_id is longer than 64 bytes")));
      return;
    }
    auto record = request->request_id().empty()
                      ? context_.certificates.Request(caller.subject, request->service(),
                                                      request->csr_pem(),
                                                      std::chrono::system_clock::now())
                      : context_.certificates.Poll(caller.subject, request->request_id());
    if (!record.ok()) {
      spdlog::warn("host={} certificate request refused: {}", caller.subject,
                   record.status().message());
      reactor->Finish(ToGrpc(record.status()));
      return;
    }
    Describe(*record, context_.issuer.CaBundlePem(), response);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace topos::controller
