// An agent offline past its certificate's expiry: it recovers its identity
// within the controller's grace period (once per expired certificate), and
// is told to enroll anew after it. Also: the trust bundle and CRL the
// controller pushes land on disk, and Hello reports them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>

#include "agent/link/trust_files.h"
#include "certs/certificate.h"
#include "certs/csr.h"
#include "certs/signature.h"
#include "common/file_io.h"
#include "common/grpc_tls.h"
#include "controller/ca/identity_recovery_policy.h"
#include "tests/integration/fleet_fixture.h"
#include "topos/v1/agent.grpc.pb.h"

namespace topos::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr char kHost[] = "web-1.fleet.test";

class IdentityRecoveryTest : public FleetTest {
 protected:
  void SetUp() override {
    agent_validity_ = 3s;  // certificates expire while the test watches
    FleetTest::SetUp();
  }

  std::string IdentityFile(const std::string& name) {
    return *ReadFile(StateDirOf(kHost) / "identity" / name);
  }
  certs::Certificate CurrentCertificate() {
    return *certs::Certificate::FromPem(IdentityFile("cert.pem"));
  }
  // Waits until the certificate on disk has been expired for `margin`.
  void WaitUntilExpired(std::chrono::seconds margin = 0s) {
    auto not_after = CurrentCertificate().not_after();
    ASSERT_TRUE(Eventually(
        [&] { return std::chrono::system_clock::now() > not_after + margin + 200ms; }, 10s));
  }
  std::string SerialInListHosts() {
    auto hosts = ListHosts();
    for (const auto& host : hosts.hosts()) {
      if (host.fqdn() == kHost) return host.certificate_serial();
    }
    return "";
  }
  // Waits for the link's loop to end, at most 15 s (then stops it).
  static Status WaitBounded(agent::ControllerLink& link) {
    auto done = std::async(std::launch::async, [&] { return link.Wait(); });
    if (done.wait_for(15s) != std::future_status::ready) {
      link.Stop();
      ADD_FAILURE() << "the link did not end on its own";
    }
    return done.get();
  }
  std::unique_ptr<topos::v1::AgentService::Stub> AnonymousStub() {
    std::string ca = *ReadFile(data_dir_ / "ca" / "ca.pem");
    return topos::v1::AgentService::NewStub(
        MakeChannel(address(), MakeServerOnlyTlsCredentials(ca), /*private_connection=*/true));
  }
};

TEST_F(IdentityRecoveryTest, RecoversAnIdentityThatExpiredWhileOffline) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  {
    auto link = StartLink(kHost);
    ASSERT_TRUE(Eventually([&] { return link->connected(); }));
    link->Stop();
    ASSERT_TRUE(link->Wait().ok());
  }
  std::string old_serial = CurrentCertificate().serial_hex();
  WaitUntilExpired();

  auto link = StartLink(kHost);
  ASSERT_TRUE(Eventually([&] { return link->connected() && link->recoveries() >= 1; }));
  EXPECT_NE(CurrentCertificate().serial_hex(), old_serial);
  EXPECT_TRUE(certs::Certificate::FromPem(IdentityFile("cert.pem"))->MatchesKey(
      *certs::PrivateKey::FromPem(IdentityFile("key.pem"))));
  std::string listed = SerialInListHosts();
  EXPECT_FALSE(listed.empty());
  EXPECT_NE(listed, old_serial);
  link->Stop();
  EXPECT_TRUE(link->Wait().ok());
}

TEST_F(IdentityRecoveryTest, PastTheGracePeriodTheAgentIsToldToEnrollAnew) {
  identity_grace_ = 1s;
  StopController();
  StartController();
  ASSERT_TRUE(EnrollHost(kHost).ok());
  std::string old_serial = CurrentCertificate().serial_hex();
  WaitUntilExpired(/*margin=*/2s);

  auto link = StartLink(kHost);
  Status ended = WaitBounded(*link);
  EXPECT_FALSE(ended.ok());
  EXPECT_EQ(ended.code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(ended.message(), HasSubstr("needs a new token"));
  EXPECT_THAT(ended.message(), HasSubstr("toposctl token create --host web-1.fleet.test"));
  EXPECT_THAT(ended.message(), HasSubstr("grace period"));
  EXPECT_EQ(link->recoveries(), 0);
  EXPECT_EQ(SerialInListHosts(), old_serial);  // nothing was issued
}

TEST_F(IdentityRecoveryTest, AnExpiredCertificateRecoversOnlyOnce) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  std::string old_cert = IdentityFile("cert.pem");
  auto old_key = certs::PrivateKey::FromPem(IdentityFile("key.pem"));
  ASSERT_TRUE(old_key.ok());
  WaitUntilExpired();

  auto fresh = certs::PrivateKey::Generate();
  auto csr = certs::Csr::Create(*fresh, kHost, {kHost});
  ASSERT_TRUE(fresh.ok() && csr.ok());
  topos::v1::RecoverIdentityRequest request;
  request.set_certificate_pem(old_cert);
  request.set_csr_pem(csr->ToPem());
  request.set_signed_at_unix(std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
  request.set_proof(*certs::SignMessage(
      *old_key, controller::RecoveryProofMessage(request.signed_at_unix(), request.csr_pem())));

  topos::v1::RenewResponse first;
  auto context = Context();
  grpc::Status granted = AnonymousStub()->RecoverIdentity(context.get(), request, &first);
  ASSERT_TRUE(granted.ok()) << granted.error_message();
  auto reissued = certs::Certificate::FromPem(first.certificate_pem());
  ASSERT_TRUE(reissued.ok());
  EXPECT_TRUE(reissued->MatchesKey(*fresh));
  EXPECT_EQ(reissued->common_name(), kHost);
  EXPECT_EQ(SerialInListHosts(), reissued->serial_hex());

  // The very same request again: refused, and nothing new issued.
  topos::v1::RenewResponse second;
  context = Context();
  grpc::Status replay = AnonymousStub()->RecoverIdentity(context.get(), request, &second);
  EXPECT_EQ(replay.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(replay.error_message(), HasSubstr("no longer the current identity"));
  EXPECT_TRUE(second.certificate_pem().empty());
  EXPECT_EQ(SerialInListHosts(), reissued->serial_hex());
}

TEST_F(IdentityRecoveryTest, RefusesAProofNotMadeWithTheOldKey) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  WaitUntilExpired();
  auto thief = certs::PrivateKey::Generate();
  auto csr = certs::Csr::Create(*thief, kHost, {kHost});
  topos::v1::RecoverIdentityRequest request;
  request.set_certificate_pem(IdentityFile("cert.pem"));
  request.set_csr_pem(csr->ToPem());
  request.set_signed_at_unix(std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
  request.set_proof(*certs::SignMessage(
      *thief, controller::RecoveryProofMessage(request.signed_at_unix(), request.csr_pem())));
  topos::v1::RenewResponse response;
  auto context = Context();
  grpc::Status refused = AnonymousStub()->RecoverIdentity(context.get(), request, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused.error_message(), HasSubstr("no proof of possession"));
}

// The default fixture (7-day certificates): trust distribution end to end.
TEST_F(FleetTest, AgentWritesTheControllersTrustBundleAndReportsItInHello) {
  ASSERT_TRUE(EnrollHost(kHost).ok());
  int changed = 0;
  agent::LinkOptions options = FastLink();
  std::string seen_bundle;
  options.on_trust_changed = [&](const std::string& bundle, const std::string& crl) {
    ++changed;
    seen_bundle = bundle;
    EXPECT_FALSE(crl.empty());
  };
  auto link = StartLink(kHost, options);
  ASSERT_TRUE(Eventually([&] { return link->trust_updates_applied() == 1; }));
  agent::TrustFiles files(StateDirOf(kHost));
  std::string bundle = *ReadFile(files.bundle_path());
  std::string crl = *ReadFile(files.crl_path(), 8 << 20);
  EXPECT_EQ(files.Generation(), agent::TrustGenerationOf(bundle, crl));
  EXPECT_EQ(bundle, *ReadFile(data_dir_ / "ca" / "ca.pem"));
  EXPECT_EQ(*ReadFile(files.identity_bundle_path()), bundle);
  link->Stop();
  ASSERT_TRUE(link->Wait().ok());
  EXPECT_EQ(changed, 1);
  EXPECT_EQ(seen_bundle, bundle);

  // Reconnecting with that generation in Hello: no second update is sent.
  auto again = StartLink(kHost);
  ASSERT_TRUE(Eventually([&] { return again->connected(); }));
  std::this_thread::sleep_for(300ms);  // an update, if wrongly sent, arrives right after Hello
  EXPECT_EQ(again->trust_updates_applied(), 0);
}

}  // namespace
}  // namespace topos::testing
