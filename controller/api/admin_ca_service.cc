// AdminService: CA rotation (RotateCa, GetCaStatus, ControlCaRotation).
#include <spdlog/spdlog.h>

#include "controller/api/admin_service.h"

namespace topos::controller {

grpc::ServerUnaryReactor* AdminServiceHandler::RotateCa(grpc::CallbackServerContext* context,
                                                        const topos::v1::RotateCaRequest* request,
                                                        topos::v1::CaRotation* response) {
  return Run(context, kRoleCaAdmin, [this, request, response](const Caller& caller) {
    if (request->batch_size() > 100000) {
      return ToGrpc(Status::InvalidArgument("--batch-size must be at most 100000"));
    }
    auto started = context_.ca_rotation.Begin(request->batch_size(), caller.subject);
    if (!started.ok()) return ToGrpc(started.status());
    *response = std::move(started).value();
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::GetCaStatus(
    grpc::CallbackServerContext* context, const topos::v1::GetCaStatusRequest*,
    topos::v1::GetCaStatusResponse* response) {
  return Run(context, kAnyRole, [this, response](const Caller&) {
    *response = context_.ca_rotation.Describe();
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::ControlCaRotation(
    grpc::CallbackServerContext* context, const topos::v1::ControlCaRotationRequest* request,
    topos::v1::CaRotation* response) {
  return Run(context, kRoleCaAdmin, [this, request, response](const Caller& caller) {
    auto controlled = context_.ca_rotation.Control(request->action(), caller.subject);
    if (!controlled.ok()) return ToGrpc(controlled.status());
    spdlog::info("operator={} {} CA rotation {}", caller.subject,
                 request->action() == topos::v1::CA_ROTATION_PAUSE ? "paused" : "resumed",
                 controlled->id());
    *response = std::move(controlled).value();
    return grpc::Status::OK;
  });
}

}  // namespace topos::controller
