#include "tests/integration/fleet_fixture.h"

#include <thread>
#include <random>

#include "certs/certificate.h"
#include "common/file_io.h"
#include "common/grpc_tls.h"
#include "controller/setup/data_dir.h"
#include "controller/store/sqlite_store.h"

namespace topos::testing {

void FleetTest::SetUp() {
  root_ = std::filesystem::temp_directory_path() /
          ("topos-fleet-" + std::to_string(std::random_device{}()));
  data_dir_ = root_ / "controller";
  controller::InitOptions init;
  init.data_dir = data_dir_;
  init.name = "controller.topos.test";
  init.listen = "127.0.0.1:0";
  ASSERT_TRUE(controller::InitDataDir(init).ok());
  StartController();
}

void FleetTest::TearDown() {
  StopController();
  std::filesystem::remove_all(root_);
}

void FleetTest::StartController() {
  auto data = controller::LoadDataDir(data_dir_);
  ASSERT_TRUE(data.ok()) << data.status().message();
  auto store = controller::SqliteStore::Open(data->database_path());
  ASSERT_TRUE(store.ok()) << store.status().message();
  controller::ServerOptions options;
  options.listen = "127.0.0.1:" + std::to_string(port_);
  options.agent_certificate_validity = agent_validity_;
  options.identity_grace = identity_grace_;
  options.report_flush_interval = std::chrono::milliseconds(50);
  if (reconnect_rate_ > 0) options.reconnect_rate = reconnect_rate_;
  auto server = controller::ControllerServer::Start(std::move(*data), std::move(*store), options);
  ASSERT_TRUE(server.ok()) << server.status().message();
  controller_ = std::move(*server);
  port_ = controller_->port();
}

void FleetTest::StopController() {
  if (controller_) controller_->Shutdown();
  controller_.reset();
}

std::unique_ptr<topos::v1::AdminService::Stub> FleetTest::AdminStub() {
  TlsIdentity admin{*ReadFile(data_dir_ / "admin" / "ca.pem"),
                    *ReadFile(data_dir_ / "admin" / "cert.pem"),
                    *ReadFile(data_dir_ / "admin" / "key.pem")};
  return topos::v1::AdminService::NewStub(MakeChannel(address(), MakeMutualTlsCredentials(admin)));
}

std::unique_ptr<grpc::ClientContext> FleetTest::Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

topos::v1::CreateTokenResponse FleetTest::CreateToken(const std::string& host, int ttl_seconds) {
  topos::v1::CreateTokenRequest request;
  request.set_host_fqdn(host);
  request.set_ttl_seconds(ttl_seconds);
  topos::v1::CreateTokenResponse response;
  auto context = Context();
  grpc::Status status = AdminStub()->CreateToken(context.get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

agent::EnrollOptions FleetTest::EnrollOptionsFor(const std::string& host, const std::string& token) {
  agent::EnrollOptions options;
  options.controller = address();
  options.token = token;
  options.ca_sha256 =
      certs::Certificate::FromPem(*ReadFile(data_dir_ / "ca" / "ca.pem"))->Sha256Fingerprint();
  options.host_fqdn = host;
  options.state_dir = StateDirOf(host);
  return options;
}

Status FleetTest::EnrollHost(const std::string& host) {
  auto token = CreateToken(host);
  agent::EnrollOptions options = EnrollOptionsFor(host, token.token());
  EXPECT_EQ(options.ca_sha256, token.ca_sha256());
  return agent::Enroll(options);
}

agent::LinkOptions FleetTest::FastLink() {
  agent::LinkOptions options;
  options.heartbeat_interval = std::chrono::seconds(1);
  options.private_connection = true;
  return options;
}

std::unique_ptr<agent::ControllerLink> FleetTest::StartLink(const std::string& host,
                                                            agent::LinkOptions options) {
  auto link = std::make_unique<agent::ControllerLink>(agent::StateDir(StateDirOf(host)), options);
  Status started = link->Start();
  EXPECT_TRUE(started.ok()) << started.message();
  return link;
}

std::unique_ptr<agent::AgentNode> FleetTest::StartNode(const std::string& host) {
  agent::NodeOptions options;
  options.link = FastLink();
  options.service_manager = agent::ServiceManagerKind::kSupervisor;
  auto node = std::make_unique<agent::AgentNode>(StateDirOf(host), options);
  Status started = node->Start();
  EXPECT_TRUE(started.ok()) << host << ": " << started.message();
  return node;
}

topos::v1::ListHostsResponse FleetTest::ListHosts() {
  topos::v1::ListHostsResponse response;
  auto context = Context();
  grpc::Status status = AdminStub()->ListHosts(context.get(), {}, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

std::string FleetTest::StatusOf(const std::string& host) {
  auto hosts = ListHosts();
  for (const auto& info : hosts.hosts()) {
    if (info.fqdn() == host) return info.status();
  }
  return "absent";
}

bool FleetTest::Eventually(const std::function<bool()>& condition,
                           std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

}  // namespace topos::testing
