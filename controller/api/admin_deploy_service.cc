// Stub.
#include "controller/api/admin_service.h"
namespace topos::controller {
grpc::ServerWriteReactor<topos::v1::DeployEvent>* AdminServiceHandler::Deploy(
    grpc::CallbackServerContext* context, const topos::v1::DeployRequest* request) {
  return topos::v1::AdminService::CallbackService::Deploy(context, request);
}
grpc::ServerUnaryReactor* AdminServiceHandler::ListCertificateRequests(
    grpc::CallbackServerContext* context, const topos::v1::ListCertificateRequestsRequest* request,
    topos::v1::ListCertificateRequestsResponse* response) {
  return topos::v1::AdminService::CallbackService::ListCertificateRequests(context, request, response);
}
grpc::ServerUnaryReactor* AdminServiceHandler::DecideCertificateRequest(
    grpc::CallbackServerContext* context, const topos::v1::DecideCertificateRequestRequest* request,
    topos::v1::DecideCertificateResponse* response) {
  return topos::v1::AdminService::CallbackService::DecideCertificateRequest(context, request, response);
}
}  // namespace topos::controller
