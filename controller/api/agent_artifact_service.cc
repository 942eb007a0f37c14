// Stub: replaced by the artifact work in progress.
#include "controller/api/agent_service.h"
namespace topos::controller {
grpc::ServerWriteReactor<topos::v1::ArtifactChunk>* AgentServiceHandler::FetchArtifact(
    grpc::CallbackServerContext* context, const topos::v1::FetchArtifactRequest* request) {
  return topos::v1::AgentService::CallbackService::FetchArtifact(context, request);
}
}  // namespace topos::controller
