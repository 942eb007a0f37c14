// Every refusal the fleet link promises, each asserted.
#include "certs/certificate_authority.h"
#include "common/file_io.h"
#include "common/grpc_tls.h"
#include "controller/store/sqlite_store.h"
#include "controller/tokens/token_service.h"
#include "tests/integration/fleet_fixture.h"
#include "topos/v1/agent.grpc.pb.h"

namespace topos::testing {
namespace {

constexpr char kHost[] = "chat01.contoso.test";

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(FleetTest, AdminCallWithoutClientCertificateIsRefused) {
  auto ca = ReadFile(data_dir_ / "admin" / "ca.pem");
  auto stub = topos::v1::AdminService::NewStub(
      MakeChannel(address(), MakeServerOnlyTlsCredentials(*ca)));
  topos::v1::ListHostsResponse response;
  auto context = Context();
  grpc::Status status = stub->ListHosts(context.get(), {}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(FleetTest, StreamWithoutClientCertificateIsRefused) {
  auto ca = ReadFile(data_dir_ / "admin" / "ca.pem");
  auto stub = topos::v1::AgentService::NewStub(
      MakeChannel(address(), MakeServerOnlyTlsCredentials(*ca)));
  auto context = Context();
  auto stream = stub->Connect(context.get());
  topos::v1::ControllerMessage message;
  EXPECT_FALSE(stream->Read(&message));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(FleetTest, CertificateFromAnotherCaIsRefused) {
  auto other_ca = certs::CertificateAuthority::Create("Somebody else's CA");
  ASSERT_TRUE(other_ca.ok());
  auto key = certs::PrivateKey::Generate();
  auto csr = certs::Csr::Create(*key, "admin", {});
  certs::SigningPolicy policy;
  policy.common_name = "admin";
  policy.organizational_unit = "operator";
  auto cert = other_ca->Sign(*csr, policy);
  ASSERT_TRUE(cert.ok());
  TlsIdentity forged{*ReadFile(data_dir_ / "admin" / "ca.pem"), cert->ToPem(), key->ToPem()};
  auto stub =
      topos::v1::AdminService::NewStub(MakeChannel(address(), MakeMutualTlsCredentials(forged)));
  topos::v1::ListHostsResponse response;
  auto context = Context();
  grpc::Status status = stub->ListHosts(context.get(), {}, &response);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.error_code(), grpc::StatusCode::OK);
}

TEST_F(FleetTest, AgentCertificateCannotCallAdminApi) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  auto state = agent::StateDir(StateDirOf(kHost)).Load();
  ASSERT_TRUE(state.ok());
  auto stub = topos::v1::AdminService::NewStub(
      MakeChannel(address(), MakeMutualTlsCredentials(state->identity)));
  topos::v1::CreateTokenRequest request;
  request.set_host_fqdn("evil.contoso.test");
  topos::v1::CreateTokenResponse response;
  auto context = Context();
  grpc::Status status = stub->CreateToken(context.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(FleetTest, UsedTokenIsRefused) {
  auto token = CreateToken(kHost);
  auto options = EnrollOptionsFor(kHost, token.token());
  ASSERT_TRUE(agent::Enroll(options).ok());
  options.state_dir = root_ / "second";
  Status again = agent::Enroll(options);
  EXPECT_EQ(again.code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(Contains(again.message(), "already used")) << again.message();
}

TEST_F(FleetTest, RevokedTokenIsRefused) {
  auto token = CreateToken(kHost);
  topos::v1::RevokeTokenRequest request;
  request.set_token_id(token.token_id());
  topos::v1::RevokeTokenResponse response;
  auto context = Context();
  ASSERT_TRUE(AdminStub()->RevokeToken(context.get(), request, &response).ok());
  Status enrolled = agent::Enroll(EnrollOptionsFor(kHost, token.token()));
  EXPECT_TRUE(Contains(enrolled.message(), "revoked")) << enrolled.message();
  EXPECT_FALSE(agent::StateDir(StateDirOf(kHost)).IsEnrolled());
}

TEST_F(FleetTest, WrongHostTokenIsRefused) {
  auto token = CreateToken("chat02.contoso.test");
  Status enrolled = agent::Enroll(EnrollOptionsFor(kHost, token.token()));
  EXPECT_EQ(enrolled.code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(Contains(enrolled.message(), "is for host chat02.contoso.test")) << enrolled.message();
}

TEST_F(FleetTest, ExpiredTokenIsRefused) {
  // A token created two hours ago with a one-hour TTL, through a second
  // connection to the controller's own database.
  auto store = controller::SqliteStore::Open(data_dir_ / "topos.db");
  ASSERT_TRUE(store.ok());
  controller::TokenService tokens(**store);
  auto issued = tokens.Create(kHost, std::chrono::hours(1), "admin",
                              std::chrono::system_clock::now() - std::chrono::hours(2));
  ASSERT_TRUE(issued.ok());
  Status enrolled = agent::Enroll(EnrollOptionsFor(kHost, issued->token));
  EXPECT_TRUE(Contains(enrolled.message(), "expired")) << enrolled.message();
}

TEST_F(FleetTest, ForgedTokenIsRefused) {
  auto token = CreateToken(kHost);
  std::string forged = token.token();
  forged.back() = forged.back() == 'a' ? 'b' : 'a';
  Status enrolled = agent::Enroll(EnrollOptionsFor(kHost, forged));
  EXPECT_EQ(enrolled.code(), Status::Code::kPermissionDenied);
}

TEST_F(FleetTest, MismatchedCaFingerprintAbortsEnrollment) {
  auto token = CreateToken(kHost);
  auto options = EnrollOptionsFor(kHost, token.token());
  options.ca_sha256 = std::string(64, '0');
  Status enrolled = agent::Enroll(options);
  EXPECT_TRUE(Contains(enrolled.message(), "CA fingerprint mismatch")) << enrolled.message();
  EXPECT_FALSE(agent::StateDir(StateDirOf(kHost)).IsEnrolled());
  // The token was not spent on the failed attempt.
  options.ca_sha256 = token.ca_sha256();
  EXPECT_TRUE(agent::Enroll(options).ok());
}

TEST_F(FleetTest, RemovedHostIsCutAndCannotReconnect) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  auto link = StartLink(kHost);
  ASSERT_TRUE(Eventually([&] { return StatusOf(kHost) == "online"; }));

  topos::v1::RemoveHostRequest request;
  request.set_fqdn(kHost);
  topos::v1::RemoveHostResponse response;
  auto context = Context();
  ASSERT_TRUE(AdminStub()->RemoveHost(context.get(), request, &response).ok());
  EXPECT_EQ(response.revoked_serials_size(), 1);

  Status ended = link->Wait();  // the stream is cut and the agent gives up
  EXPECT_EQ(ended.code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(Contains(ended.message(), "new enrollment")) << ended.message();
  EXPECT_EQ(StatusOf(kHost), "removed");

  auto again = StartLink(kHost);
  Status refused = again->Wait();
  EXPECT_EQ(refused.code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(Contains(refused.message(), "revoked")) << refused.message();
  EXPECT_EQ(controller_->connected_agents(), 0u);
}

TEST_F(FleetTest, DuplicateIdentityIsRefusedAndReported) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  auto first = StartLink(kHost);
  // Connected, and done writing the trust files the controller pushes at
  // once (copying a directory while files are renamed into it can fail).
  ASSERT_TRUE(Eventually([&] { return first->connected() && first->trust_updates_applied() >= 1; }));
  // A clone: the same state directory copied to a second machine.
  std::filesystem::copy(StateDirOf(kHost), root_ / "clone",
                        std::filesystem::copy_options::recursive);
  agent::ControllerLink clone(agent::StateDir(root_ / "clone"), FastLink());
  ASSERT_TRUE(clone.Start().ok());
  ASSERT_TRUE(Eventually([&] {
    auto hosts = ListHosts();
    return hosts.hosts_size() == 1 && hosts.hosts(0).refused_duplicate_connections() >= 1;
  }));
  EXPECT_FALSE(clone.connected());
  EXPECT_TRUE(first->connected());
  EXPECT_EQ(controller_->connected_agents(), 1u);
  clone.Stop();
  // The refusals are remembered across a controller restart.
  first->Stop();
  StopController();
  StartController();
  EXPECT_GE(ListHosts().hosts(0).refused_duplicate_connections(), 1u);
}

}  // namespace
}  // namespace topos::testing
