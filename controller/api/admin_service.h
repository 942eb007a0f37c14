// AdminService on the controller: the operator API behind toposctl. Every
// call is authorized in AuthorizeOperator (one place, so the audit log can
// hook in there) and runs on the executor.
#pragma once

#include <functional>
#include <mutex>

#include "controller/api/caller.h"
#include "controller/api/controller_context.h"
#include "topos/v1/admin.grpc.pb.h"

namespace topos::controller {

// Roles (mirroring the seed product's groups). Reading needs any role.
inline constexpr char kRoleDeployer[] = "deployer";
inline constexpr char kRoleTopologyAdmin[] = "topology-admin";
inline constexpr char kRoleCaAdmin[] = "ca-admin";
inline constexpr char kAnyRole[] = "";

// Re-signs the CRL after a revocation; a failure is logged, not returned:
// the revocation is already stored and enforced, and the publisher retries.
void RefreshCrl(CrlPublisher& crl, std::chrono::system_clock::time_point now);

// The admin API's view of a service certificate request.
topos::v1::CertificateRequestInfo DescribeCertificateRequest(const CertificateRequestRecord& request);

class AdminServiceHandler final : public topos::v1::AdminService::CallbackService {
 public:
  explicit AdminServiceHandler(ControllerContext& context) : context_(context) {}

  grpc::ServerUnaryReactor* CreateToken(grpc::CallbackServerContext* context,
                                        const topos::v1::CreateTokenRequest* request,
                                        topos::v1::CreateTokenResponse* response) override;
  grpc::ServerUnaryReactor* ListTokens(grpc::CallbackServerContext* context,
                                       const topos::v1::ListTokensRequest* request,
                                       topos::v1::ListTokensResponse* response) override;
  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* context,
                                        const topos::v1::RevokeTokenRequest* request,
                                        topos::v1::RevokeTokenResponse* response) override;
  grpc::ServerUnaryReactor* ListHosts(grpc::CallbackServerContext* context,
                                      const topos::v1::ListHostsRequest* request,
                                      topos::v1::ListHostsResponse* response) override;
  grpc::ServerUnaryReactor* GetHost(grpc::CallbackServerContext* context,
                                    const topos::v1::GetHostRequest* request,
                                    topos::v1::GetHostResponse* response) override;
  grpc::ServerUnaryReactor* RemoveHost(grpc::CallbackServerContext* context,
                                       const topos::v1::RemoveHostRequest* request,
                                       topos::v1::RemoveHostResponse* response) override;

  // Topology, configuration and replication: admin_topology_service.cc.
  grpc::ServerUnaryReactor* PublishTopology(grpc::CallbackServerContext* context,
                                            const topos::v1::PublishTopologyRequest* request,
                                            topos::v1::PublishTopologyResponse* response) override;
  grpc::ServerUnaryReactor* GetTopology(grpc::CallbackServerContext* context,
                                        const topos::v1::GetTopologyRequest* request,
                                        topos::v1::GetTopologyResponse* response) override;
  grpc::ServerUnaryReactor* ListTopologyVersions(
      grpc::CallbackServerContext* context, const topos::v1::ListTopologyVersionsRequest* request,
      topos::v1::ListTopologyVersionsResponse* response) override;
  grpc::ServerUnaryReactor* ExportConfig(grpc::CallbackServerContext* context,
                                         const topos::v1::ExportConfigRequest* request,
                                         topos::v1::ConfigExport* response) override;
  grpc::ServerUnaryReactor* ImportConfig(grpc::CallbackServerContext* context,
                                         const topos::v1::ImportConfigRequest* request,
                                         topos::v1::ImportConfigResponse* response) override;
  grpc::ServerUnaryReactor* GetReplicationStatus(
      grpc::CallbackServerContext* context, const topos::v1::GetReplicationStatusRequest* request,
      topos::v1::GetReplicationStatusResponse* response) override;
  grpc::ServerUnaryReactor* SyncReplication(grpc::CallbackServerContext* context,
                                            const topos::v1::SyncReplicationRequest* request,
                                            topos::v1::SyncReplicationResponse* response) override;

  // Artifacts: admin_artifact_service.cc.
  grpc::ServerReadReactor<topos::v1::PushArtifactChunk>* PushArtifact(
      grpc::CallbackServerContext* context, topos::v1::PushArtifactResponse* response) override;
  grpc::ServerUnaryReactor* ListArtifacts(grpc::CallbackServerContext* context,
                                          const topos::v1::ListArtifactsRequest* request,
                                          topos::v1::ListArtifactsResponse* response) override;

  // Deploy and service certificates: admin_deploy_service.cc.
  grpc::ServerWriteReactor<topos::v1::DeployEvent>* Deploy(
      grpc::CallbackServerContext* context, const topos::v1::DeployRequest* request) override;
  grpc::ServerUnaryReactor* ListCertificateRequests(
      grpc::CallbackServerContext* context,
      const topos::v1::ListCertificateRequestsRequest* request,
      topos::v1::ListCertificateRequestsResponse* response) override;
  grpc::ServerUnaryReactor* DecideCertificateRequest(
      grpc::CallbackServerContext* context,
      const topos::v1::DecideCertificateRequestRequest* request,
      topos::v1::DecideCertificateResponse* response) override;

  // Rollouts: admin_rollout_service.cc.
  grpc::ServerUnaryReactor* PlanRollout(grpc::CallbackServerContext* context,
                                        const topos::v1::PlanRolloutRequest* request,
                                        topos::v1::PlanRolloutResponse* response) override;
  grpc::ServerUnaryReactor* StartRollout(grpc::CallbackServerContext* context,
                                         const topos::v1::StartRolloutRequest* request,
                                         topos::v1::StartRolloutResponse* response) override;
  grpc::ServerUnaryReactor* ListRollouts(grpc::CallbackServerContext* context,
                                         const topos::v1::ListRolloutsRequest* request,
                                         topos::v1::ListRolloutsResponse* response) override;
  grpc::ServerUnaryReactor* GetRollout(grpc::CallbackServerContext* context,
                                       const topos::v1::GetRolloutRequest* request,
                                       topos::v1::GetRolloutResponse* response) override;
  grpc::ServerUnaryReactor* ControlRollout(grpc::CallbackServerContext* context,
                                           const topos::v1::ControlRolloutRequest* request,
                                           topos::v1::ControlRolloutResponse* response) override;
  grpc::ServerUnaryReactor* RollbackRollout(grpc::CallbackServerContext* context,
                                            const topos::v1::RollbackRolloutRequest* request,
                                            topos::v1::StartRolloutResponse* response) override;
  grpc::ServerUnaryReactor* StartCertificateRollout(
      grpc::CallbackServerContext* context,
      const topos::v1::StartCertificateRolloutRequest* request,
      topos::v1::StartRolloutResponse* response) override;
  // Certificate inventory and revocation: admin_certificate_service.cc.
  grpc::ServerUnaryReactor* ListCertificates(grpc::CallbackServerContext* context,
                                             const topos::v1::ListCertificatesRequest* request,
                                             topos::v1::ListCertificatesResponse* response) override;
  grpc::ServerUnaryReactor* RevokeCertificate(grpc::CallbackServerContext* context,
                                              const topos::v1::RevokeCertificateRequest* request,
                                              topos::v1::RevokeCertificateResponse* response) override;
  grpc::ServerUnaryReactor* GetCrl(grpc::CallbackServerContext* context,
                                   const topos::v1::GetCrlRequest* request,
                                   topos::v1::GetCrlResponse* response) override;
  // CA rotation: admin_ca_service.cc.
  grpc::ServerUnaryReactor* RotateCa(grpc::CallbackServerContext* context,
                                     const topos::v1::RotateCaRequest* request,
                                     topos::v1::CaRotation* response) override;
  grpc::ServerUnaryReactor* GetCaStatus(grpc::CallbackServerContext* context,
                                        const topos::v1::GetCaStatusRequest* request,
                                        topos::v1::GetCaStatusResponse* response) override;
  grpc::ServerUnaryReactor* ControlCaRotation(grpc::CallbackServerContext* context,
                                              const topos::v1::ControlCaRotationRequest* request,
                                              topos::v1::CaRotation* response) override;
  // admin_rollout_watch.cc.
  grpc::ServerWriteReactor<topos::v1::RolloutUpdate>* WatchRollout(
      grpc::CallbackServerContext* context, const topos::v1::WatchRolloutRequest* request) override;

 private:
  // Authorizes the caller for `role`, then runs `work` on the executor and
  // finishes the call with its status.
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context, const char* role,
                                std::function<grpc::Status(const Caller&)> work);
  // `host` as the admin API shows it, placed (site, pools) in `published`,
  // which the caller takes once per call so a list shows one version.
  topos::v1::HostInfo DescribeHost(const HostRecord& host, const PublishedTopology& published,
                                   std::chrono::system_clock::time_point now) const;
  grpc::Status DoPublish(const Caller& caller, const topos::v1::PublishTopologyRequest& request,
                         topos::v1::PublishTopologyResponse* response);
  grpc::Status DoImport(const Caller& caller, const topos::v1::ImportConfigRequest& request,
                        topos::v1::ImportConfigResponse* response);

  ControllerContext& context_;
  std::mutex publish_mutex_;  // one publish or import at a time, so versions reach hosts in order
};

}  // namespace topos::controller
