// AdminService on the controller: the operator API behind toposctl. Every
// call is authorized in AuthorizeOperator (one place, so the audit log can
// hook in there) and runs on the executor.
#pragma once

#include <functional>

#include "controller/api/caller.h"
#include "controller/api/controller_context.h"
#include "topos/v1/admin.grpc.pb.h"

namespace topos::controller {

// Roles (mirroring the seed product's groups). Reading needs any role.
inline constexpr char kRoleDeployer[] = "deployer";
inline constexpr char kAnyRole[] = "";

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

 private:
  // Authorizes the caller for `role`, then runs `work` on the executor and
  // finishes the call with its status.
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context, const char* role,
                                std::function<grpc::Status(const Caller&)> work);
  topos::v1::HostInfo DescribeHost(const HostRecord& host,
                                   std::chrono::system_clock::time_point now) const;

  ControllerContext& context_;
};

}  // namespace topos::controller
