// Stub: replaced by the artifact work in progress.
#include "controller/api/admin_service.h"
namespace topos::controller {
grpc::ServerReadReactor<topos::v1::PushArtifactChunk>* AdminServiceHandler::PushArtifact(
    grpc::CallbackServerContext* context, topos::v1::PushArtifactResponse* response) {
  return topos::v1::AdminService::CallbackService::PushArtifact(context, response);
}
grpc::ServerUnaryReactor* AdminServiceHandler::ListArtifacts(
    grpc::CallbackServerContext* context, const topos::v1::ListArtifactsRequest* request,
    topos::v1::ListArtifactsResponse* response) {
  return topos::v1::AdminService::CallbackService::ListArtifacts(context, request, response);
}
}  // namespace topos::controller
