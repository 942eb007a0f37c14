// AgentService on the controller: CA bundle, enrollment, renewal, and the
// Connect stream. Blocking work (store, signing) runs on the executor.
#pragma once

#include "controller/api/controller_context.h"
#include "topos/v1/agent.grpc.pb.h"

namespace topos::controller {

class AgentServiceHandler final : public topos::v1::AgentService::CallbackService {
 public:
  explicit AgentServiceHandler(ControllerContext& context) : context_(context) {}

  grpc::ServerUnaryReactor* GetCaBundle(grpc::CallbackServerContext* context,
                                        const topos::v1::GetCaBundleRequest* request,
                                        topos::v1::GetCaBundleResponse* response) override;
  grpc::ServerUnaryReactor* Enroll(grpc::CallbackServerContext* context,
                                   const topos::v1::EnrollRequest* request,
                                   topos::v1::EnrollResponse* response) override;
  grpc::ServerUnaryReactor* Renew(grpc::CallbackServerContext* context,
                                  const topos::v1::RenewRequest* request,
                                  topos::v1::RenewResponse* response) override;
  grpc::ServerBidiReactor<topos::v1::AgentMessage, topos::v1::ControllerMessage>* Connect(
      grpc::CallbackServerContext* context) override;

  // agent_artifact_service.cc
  grpc::ServerWriteReactor<topos::v1::ArtifactChunk>* FetchArtifact(
      grpc::CallbackServerContext* context,
      const topos::v1::FetchArtifactRequest* request) override;
  // agent_certificate_service.cc
  grpc::ServerUnaryReactor* RequestCertificate(grpc::CallbackServerContext* context,
                                               const topos::v1::CertificateRequest* request,
                                               topos::v1::CertificateReply* response) override;

 private:
  grpc::Status DoEnroll(const topos::v1::EnrollRequest& request,
                        topos::v1::EnrollResponse* response);
  grpc::Status DoRenew(grpc::CallbackServerContext* context, const topos::v1::RenewRequest& request,
                       topos::v1::RenewResponse* response);

  ControllerContext& context_;
};

}  // namespace topos::controller
