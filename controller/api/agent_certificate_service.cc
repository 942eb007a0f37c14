// Stub.
#include "controller/api/agent_service.h"
namespace topos::controller {
grpc::ServerUnaryReactor* AgentServiceHandler::RequestCertificate(
    grpc::CallbackServerContext* context, const topos::v1::CertificateRequest* request,
    topos::v1::CertificateReply* response) {
  return topos::v1::AgentService::CallbackService::RequestCertificate(context, request, response);
}
}  // namespace topos::controller
