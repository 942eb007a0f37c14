// CA rotation end to end, in process: a controller and connected agents
// over real mutual TLS. The rotation finishes with every identity and the
// controller's own certificate signed by the new CA only, the agents stay
// (or come back) connected throughout, and a controller restart in the
// middle of phase reissue resumes it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/state/agent_state.h"
#include "certs/certificate.h"
#include "common/file_io.h"
#include "common/grpc_tls.h"
#include "tests/integration/fleet_fixture.h"

namespace topos::testing {
namespace {

using ::testing::HasSubstr;

class CaRotationIntegration : public FleetTest {
 protected:
  // The agents stop before the fixture removes their directories.
  void TearDown() override {
    for (auto& link : links_) link->Stop();
    links_.clear();
    FleetTest::TearDown();
  }

  // Enrolls and connects `count` agents h1..hN.
  void StartFleet(int count) {
    for (int i = 1; i <= count; ++i) {
      const std::string host = "h" + std::to_string(i) + ".topos.test";
      ASSERT_TRUE(EnrollHost(host).ok()) << host;
      hosts_.push_back(host);
      links_.push_back(StartLink(host));
    }
    ASSERT_TRUE(AllConnected());
  }
  bool AllConnected() {
    return Eventually([&] {
      if (controller_->connected_agents() != hosts_.size()) return false;
      for (const auto& link : links_) {
        if (!link->connected()) return false;
      }
      return true;
    });
  }

  topos::v1::GetCaStatusResponse CaStatus() {
    topos::v1::GetCaStatusResponse response;
    auto context = Context();
    grpc::Status status = AdminStub()->GetCaStatus(context.get(), {}, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  topos::v1::CaRotation Rotate(std::uint32_t batch_size) {
    topos::v1::RotateCaRequest request;
    request.set_batch_size(batch_size);
    topos::v1::CaRotation rotation;
    auto context = Context();
    grpc::Status status = AdminStub()->RotateCa(context.get(), request, &rotation);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return rotation;
  }
  grpc::Status Control(topos::v1::CaRotationAction action) {
    topos::v1::ControlCaRotationRequest request;
    request.set_action(action);
    topos::v1::CaRotation rotation;
    auto context = Context();
    return AdminStub()->ControlCaRotation(context.get(), request, &rotation);
  }
  bool Succeeded() {
    return Eventually([&] { return CaStatus().rotation().state() == "succeeded"; },
                      std::chrono::seconds(40));
  }
  certs::Certificate CaFile(const std::string& name) {
    return *certs::Certificate::FromPem(*ReadFile(data_dir_ / "ca" / name));
  }
  // Every identity, the server and operator certificates chain to `fresh`
  // and not to `old`.
  void ExpectOnlyUnder(const certs::Certificate& fresh, const certs::Certificate& old) {
    for (const auto& host : hosts_) {
      auto state = agent::StateDir(StateDirOf(host)).Load();
      ASSERT_TRUE(state.ok()) << host;
      auto identity = certs::Certificate::FromPem(state->identity.certificate_pem);
      ASSERT_TRUE(identity.ok());
      EXPECT_TRUE(certs::VerifyChain(*identity, {fresh}, {}, certs::Usage::kClient).ok()) << host;
      EXPECT_FALSE(certs::VerifyChain(*identity, {old}, {}, certs::Usage::kClient).ok()) << host;
      EXPECT_EQ(state->identity.ca_bundle_pem, fresh.ToPem()) << host << " still trusts the old CA";
    }
    auto server = certs::Certificate::FromPem(*ReadFile(data_dir_ / "server" / "cert.pem"));
    EXPECT_TRUE(certs::VerifyChain(*server, {fresh}, {}, certs::Usage::kServer).ok());
    EXPECT_EQ(*ReadFile(data_dir_ / "admin" / "ca.pem"), fresh.ToPem());
    EXPECT_EQ(*ReadFile(data_dir_ / "ca" / "bundle.pem"), fresh.ToPem());
  }

  std::vector<std::string> hosts_;
  std::vector<std::unique_ptr<agent::ControllerLink>> links_;
};

TEST_F(CaRotationIntegration, RotatesUnderConnectedAgentsWithoutLosingThem) {
  StartFleet(4);
  const certs::Certificate old_ca = CaFile("ca.pem");
  // A client that trusts only the old CA, as any party that never saw the
  // rotation: before it, the controller is reachable with it.
  TlsIdentity admin{old_ca.ToPem(), *ReadFile(data_dir_ / "admin" / "cert.pem"),
                    *ReadFile(data_dir_ / "admin" / "key.pem")};

  topos::v1::CaRotation started = Rotate(2);
  EXPECT_EQ(started.phase(), "trust");
  ASSERT_FALSE(started.new_ca_fingerprint().empty());
  ASSERT_TRUE(Succeeded()) << CaStatus().rotation().message();

  topos::v1::GetCaStatusResponse status = CaStatus();
  EXPECT_EQ(status.rotation().phase(), "done");
  EXPECT_EQ(status.ca_fingerprint(), started.new_ca_fingerprint());
  ASSERT_EQ(status.trusted_fingerprints_size(), 1);
  EXPECT_EQ(status.rotation().identities_reissued(), 4u);
  EXPECT_EQ(status.rotation().identities_total(), 4u);
  const certs::Certificate new_ca = CaFile("ca.pem");
  EXPECT_NE(new_ca.Sha256Fingerprint(), old_ca.Sha256Fingerprint());
  EXPECT_NE(new_ca.common_name(), old_ca.common_name());
  ExpectOnlyUnder(new_ca, old_ca);
  EXPECT_TRUE(AllConnected());
  for (const auto& link : links_) EXPECT_GE(link->renewals(), 1);

  // The live server presents the new certificate: the old CA alone no
  // longer verifies it.
  auto stale = topos::v1::AdminService::NewStub(
      MakeChannel(address(), MakeMutualTlsCredentials(admin), /*private_connection=*/true));
  topos::v1::GetCaStatusResponse ignored;
  auto context = Context();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  EXPECT_FALSE(stale->GetCaStatus(context.get(), {}, &ignored).ok());

  // A second rotation may start once the first is done.
  topos::v1::CaRotation second = Rotate(0);
  EXPECT_EQ(second.phase(), "trust");
}

TEST_F(CaRotationIntegration, RestartInPhaseReissueResumes) {
  StartFleet(4);
  const certs::Certificate old_ca = CaFile("ca.pem");
  // A token made before the rotation pins the old CA.
  agent::EnrollOptions late = EnrollOptionsFor("late.test", CreateToken("late.test").token());
  Rotate(1);  // one renewal at a time: phase reissue takes a few ticks
  ASSERT_TRUE(Eventually([&] {
    auto status = CaStatus();
    return status.rotation().phase() == "reissue" &&
           status.ca_fingerprint() == status.rotation().new_ca_fingerprint();
  }, std::chrono::seconds(20)));
  ASSERT_TRUE(Control(topos::v1::CA_ROTATION_PAUSE).ok());
  // The new CA signs now; the old one is only trusted: an agent enrolling
  // with that token is told why it cannot, and what to do.
  Status enrolled = agent::Enroll(late);
  EXPECT_EQ(enrolled.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(enrolled.message().find("the CA was rotated after the token was made"), std::string::npos)
      << enrolled.message();

  StopController();
  StartController();
  ASSERT_TRUE(AllConnected()) << "agents come back to the restarted controller";
  topos::v1::CaRotation resumed = CaStatus().rotation();
  EXPECT_EQ(resumed.phase(), "reissue");
  EXPECT_EQ(resumed.state(), "paused");
  EXPECT_LT(resumed.identities_reissued(), 4u);
  ASSERT_TRUE(Control(topos::v1::CA_ROTATION_RESUME).ok());
  ASSERT_TRUE(Succeeded()) << CaStatus().rotation().message();
  ExpectOnlyUnder(CaFile("ca.pem"), old_ca);
  EXPECT_TRUE(AllConnected());
}

TEST_F(CaRotationIntegration, OneRotationAtATime) {
  StartFleet(1);
  topos::v1::CaRotation first = Rotate(0);
  topos::v1::RotateCaRequest request;
  topos::v1::CaRotation rotation;
  auto context = Context();
  grpc::Status again = AdminStub()->RotateCa(context.get(), request, &rotation);
  if (CaStatus().rotation().state() != "succeeded") {
    EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(again.error_message(), HasSubstr(first.id()));
  }
  ASSERT_TRUE(Succeeded());
}

}  // namespace
}  // namespace topos::testing
