// AgentService on the controller: CA bundle, enrollment, renewal, identity
// recovery, and the Connect stream. Blocking work (store, signing) runs on
// the executor.
//
// Thread-safety: gRPC calls the handlers from its threads; recoveries are
// serialized by recovery_mutex_.
#pragma once

#include <mutex>

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

  // agent_identity_recovery.cc: no client certificate; see
  // controller/ca/identity_recovery_policy.h for when it is granted.
  grpc::ServerUnaryReactor* RecoverIdentity(grpc::CallbackServerContext* context,
                                            const topos::v1::RecoverIdentityRequest* request,
                                            topos::v1::RenewResponse* response) override;

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
  grpc::Status DoRecoverIdentity(const topos::v1::RecoverIdentityRequest& request,
                                 topos::v1::RenewResponse* response);

  ControllerContext& context_;
  // Held from the check to the store update, so that one expired
  // certificate can never be recovered twice by concurrent requests.
  std::mutex recovery_mutex_;
};

}  // namespace topos::controller
