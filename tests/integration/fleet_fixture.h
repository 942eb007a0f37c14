// A controller and agents in one process, over real mutual TLS on loopback:
// a fresh data directory and PKI per test, port 0.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "agent/link/controller_link.h"
#include "agent/link/enroller.h"
#include "agent/node/agent_node.h"
#include "controller/server.h"
#include "topos/v1/admin.grpc.pb.h"

namespace topos::testing {

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // (Re)starts the controller on the same port as before, if any.
  void StartController();
  void StopController();

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::unique_ptr<topos::v1::AdminService::Stub> AdminStub();
  // Creates a token through the admin API.
  topos::v1::CreateTokenResponse CreateToken(const std::string& host, int ttl_seconds = 3600);
  agent::EnrollOptions EnrollOptionsFor(const std::string& host, const std::string& token);
  // Enrolls `host` with a fresh token into its own state directory.
  Status EnrollHost(const std::string& host);
  std::filesystem::path StateDirOf(const std::string& host) const { return root_ / "agents" / host; }
  std::unique_ptr<agent::ControllerLink> StartLink(const std::string& host,
                                                   agent::LinkOptions options = FastLink());
  static agent::LinkOptions FastLink();
  // A whole agent (link, step executor, built-in supervisor) on `host`'s
  // state directory, started; EXPECTs Start to succeed.
  std::unique_ptr<agent::AgentNode> StartNode(const std::string& host);

  topos::v1::ListHostsResponse ListHosts();
  std::string StatusOf(const std::string& host);
  // Polls `condition` every 20 ms until it holds or `timeout` passes.
  static bool Eventually(const std::function<bool()>& condition,
                         std::chrono::milliseconds timeout = std::chrono::seconds(15));
  static std::unique_ptr<grpc::ClientContext> Context();

  std::filesystem::path root_;
  std::filesystem::path data_dir_;
  std::unique_ptr<controller::ControllerServer> controller_;
  int port_ = 0;
  std::chrono::seconds agent_validity_{7 * 24 * 3600};
  std::chrono::seconds identity_grace_{30 * 24 * 3600};  // ServerOptions.identity_grace
  unsigned reconnect_rate_ = 0;                          // 0: ServerOptions' default
};

}  // namespace topos::testing
