// CaRotation over a real data directory, store and keyring, and a fake
// fleet: the three phases and what each waits for, batches of renewal
// requests, pause and resume, a failed certificate rollout, refusals, and
// a restart in every stored phase.
#include "controller/ca/ca_rotation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "certs/csr.h"
#include "common/file_io.h"
#include "certs/crl.h"
#include "controller/ca/certificate_issuer.h"
#include "controller/ca/crl_publisher.h"
#include "controller/setup/data_dir.h"
#include "controller/store/sqlite_store.h"
#include "tests/support/temp_dir.h"

namespace topos {
namespace {

namespace tc = topos::controller;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class FakeFleet final : public tc::CaRotationFleet {
 public:
  void PublishBundle(const std::string& bundle_pem) override { bundles.push_back(bundle_pem); }
  Trust CheckTrust() override { return trust; }
  std::vector<std::string> ConnectedHosts() override { return connected; }
  bool RequestRenewal(const std::string& fqdn) override {
    renewals.push_back(fqdn);
    return true;
  }
  Status ResignCrl() override {
    ++crl_signings;
    return Status::Ok();
  }
  Result<std::string> StartCertificateRollout(const std::string&) override {
    ++rollouts_started;
    return start_result;
  }
  Result<RolloutState> GetRolloutState(const std::string& id) override {
    auto found = rollout_states.find(id);
    if (found == rollout_states.end()) return Status::NotFound("rollout " + id);
    return found->second;
  }

  // Fingerprints in the last published bundle.
  std::vector<std::string> LastBundle() const {
    std::vector<std::string> fps;
    if (bundles.empty()) return fps;
    auto bundle = certs::Certificate::BundleFromPem(bundles.back());
    if (!bundle.ok()) return fps;
    for (const auto& c : *bundle) fps.push_back(c.Sha256Fingerprint());
    return fps;
  }

  std::vector<std::string> bundles;
  Trust trust;
  std::vector<std::string> connected;
  std::vector<std::string> renewals;
  int crl_signings = 0;
  int rollouts_started = 0;
  Result<std::string> start_result = std::string("r-1");
  std::map<std::string, RolloutState> rollout_states{{"r-1", {"running", false, ""}}};
};

class CaRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tc::InitOptions init;
    init.data_dir = temp_.path() / "controller";
    init.name = "controller.topos.test";
    ASSERT_TRUE(tc::InitDataDir(init).ok());
    Restart();
    old_fp_ = keyring_->signing()->certificate().Sha256Fingerprint();
  }

  // What a controller restart does: everything reloaded from disk.
  void Restart() {
    rotation_.reset();
    issuer_.reset();
    store_.reset();
    auto keyring = tc::CaKeyring::Load(temp_.path() / "controller" / "ca");
    ASSERT_TRUE(keyring.ok()) << keyring.status().message();
    keyring_ = std::move(keyring).value();
    auto store = tc::SqliteStore::Open(temp_.path() / "controller" / "topos.db");
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    issuer_ = std::make_unique<tc::CertificateIssuer>(*keyring_, std::chrono::hours(24));
    tc::CaRotationOptions options;
    options.data_dir = temp_.path() / "controller";
    options.controller_name = "controller.topos.test";
    options.tls_settle = settle_;
    rotation_ = std::make_unique<tc::CaRotation>(*store_, *keyring_, fleet_, options);
    ASSERT_TRUE(rotation_->Recover().ok());
  }

  // Enrolls `fqdn` with an identity from the signing CA of the moment.
  void Enroll(const std::string& fqdn) {
    tc::TokenRecord token;
    token.id = "t-" + fqdn;
    token.secret_hash = "x";
    token.host_fqdn = fqdn;
    token.expires_at = std::chrono::system_clock::now() + std::chrono::hours(1);
    ASSERT_TRUE(store_->InsertToken(token).ok());
    auto issued = Issue(fqdn);
    tc::HostRecord host;
    host.fqdn = fqdn;
    host.certificate_serial = issued.record.serial;
    host.certificate_not_after = issued.record.not_after;
    ASSERT_TRUE(store_->CompleteEnrollment(token.id, host, issued.record,
                                           std::chrono::system_clock::now())
                    .ok());
  }
  // What an agent does when asked to renew.
  void Renew(const std::string& fqdn) {
    auto issued = Issue(fqdn);
    ASSERT_TRUE(store_->RecordRenewal(fqdn, issued.record).ok());
  }
  tc::Issued Issue(const std::string& fqdn) {
    auto key = certs::PrivateKey::Generate();
    auto csr = certs::Csr::Create(*key, fqdn, {fqdn});
    auto issued = issuer_->IssueAgentIdentity(*csr, fqdn);
    EXPECT_TRUE(issued.ok()) << issued.status().message();
    return *issued;
  }

  v1::CaRotation Now() { return rotation_->Describe().rotation(); }
  // Ticks until the rotation is in `phase` (at most 10 ticks).
  bool TickTo(const std::string& phase) {
    for (int i = 0; i < 10 && Now().phase() != phase; ++i) rotation_->Tick();
    return Now().phase() == phase;
  }
  std::string SigningFp() { return keyring_->signing()->certificate().Sha256Fingerprint(); }
  certs::Certificate FileCert(const std::string& relative) {
    return *certs::Certificate::FromPem(*ReadFile(temp_.path() / "controller" / relative));
  }
  bool ChainsToSigning(const certs::Certificate& c, certs::Usage usage) {
    return certs::VerifyChain(c, {keyring_->signing()->certificate()}, {}, usage).ok();
  }
  // Ticks through phase trust with every online host confirming.
  void ThroughTrust() {
    fleet_.trust = {2, 2, {}};
    ASSERT_TRUE(TickTo("reissue"));
  }

  test_support::TempDir temp_{"topos-ca-rotation"};
  FakeFleet fleet_;
  std::unique_ptr<tc::CaKeyring> keyring_;
  std::unique_ptr<tc::SqliteStore> store_;
  std::unique_ptr<tc::CertificateIssuer> issuer_;
  std::unique_ptr<tc::CaRotation> rotation_;
  std::string old_fp_;
  std::chrono::milliseconds settle_{0};
};

TEST_F(CaRotationTest, WalksTheThreePhasesAndEndsWithOnlyTheNewCa) {
  Enroll("a.example.com");
  Enroll("b.example.com");
  fleet_.connected = {"a.example.com", "b.example.com"};
  fleet_.trust = {2, 0, {"a.example.com", "b.example.com"}};

  auto begun = rotation_->Begin(0, "admin");
  ASSERT_TRUE(begun.ok()) << begun.status().message();
  EXPECT_EQ(begun->phase(), "trust");
  EXPECT_EQ(begun->state(), "running");
  EXPECT_EQ(begun->batch_size(), tc::kDefaultCaRotationBatch);
  EXPECT_EQ(begun->started_by(), "admin");
  ASSERT_FALSE(begun->new_ca_fingerprint().empty());
  ASSERT_TRUE(keyring_->next());
  EXPECT_THAT(keyring_->next()->common_name(), HasSubstr("Topos CA controller.topos.test 20"));
  const std::string new_fp = keyring_->next()->Sha256Fingerprint();
  // Both CAs go out, the operator's bundle too; the old one still signs.
  EXPECT_EQ(fleet_.LastBundle(), (std::vector<std::string>{old_fp_, new_fp}));
  EXPECT_EQ(*ReadFile(temp_.path() / "controller" / "admin" / "ca.pem"), keyring_->BundlePem());
  EXPECT_EQ(SigningFp(), old_fp_);

  rotation_->Tick();
  EXPECT_EQ(Now().phase(), "trust");
  EXPECT_EQ(Now().hosts_online(), 2u);
  EXPECT_EQ(Now().hosts_confirmed(), 0u);
  EXPECT_THAT(Now().waiting_for(), ElementsAre("a.example.com", "b.example.com"));
  EXPECT_THAT(Now().message(), HasSubstr("0 of 2"));
  fleet_.trust = {2, 1, {"b.example.com"}};
  rotation_->Tick();
  EXPECT_EQ(Now().phase(), "trust");

  fleet_.trust = {2, 2, {}};
  ASSERT_TRUE(TickTo("reissue"));
  rotation_->Tick();
  // Promoted: the new CA signs, our own certificates follow, the CRL too.
  EXPECT_EQ(SigningFp(), new_fp);
  EXPECT_TRUE(ChainsToSigning(FileCert("server/cert.pem"), certs::Usage::kServer));
  EXPECT_EQ(FileCert("server/cert.pem").common_name(), "controller.topos.test");
  EXPECT_THAT(FileCert("server/cert.pem").dns_names(), ElementsAre("controller.topos.test", "localhost"));
  EXPECT_TRUE(FileCert("server/cert.pem")
                  .MatchesKey(*certs::PrivateKey::FromPem(
                      *ReadFile(temp_.path() / "controller" / "server" / "key.pem"))));
  EXPECT_TRUE(ChainsToSigning(FileCert("admin/cert.pem"), certs::Usage::kClient));
  EXPECT_EQ(FileCert("admin/cert.pem").common_name(), "admin");
  EXPECT_GE(fleet_.crl_signings, 1);
  EXPECT_EQ(fleet_.LastBundle(), (std::vector<std::string>{new_fp, old_fp_}));
  EXPECT_EQ(Now().certificate_rollout_id(), "r-1");
  EXPECT_THAT(fleet_.renewals, ElementsAre("a.example.com", "b.example.com"));
  EXPECT_EQ(Now().identities_total(), 2u);
  EXPECT_EQ(Now().identities_reissued(), 0u);

  Renew("a.example.com");
  Renew("b.example.com");
  rotation_->Tick();
  EXPECT_EQ(Now().identities_reissued(), 2u);
  EXPECT_EQ(Now().phase(), "reissue") << "the certificate rollout is still running";
  fleet_.rollout_states["r-1"] = {"succeeded", true, ""};
  ASSERT_TRUE(TickTo("retire"));
  fleet_.trust = {2, 0, {"a.example.com", "b.example.com"}};
  rotation_->Tick();
  EXPECT_EQ(fleet_.LastBundle(), std::vector<std::string>{new_fp});
  EXPECT_FALSE(keyring_->previous());
  EXPECT_EQ(Now().phase(), "retire");
  EXPECT_THAT(Now().message(), HasSubstr("0 of 2"));
  fleet_.trust = {2, 2, {}};
  ASSERT_TRUE(TickTo("done"));
  EXPECT_EQ(Now().state(), "succeeded");
  EXPECT_NE(Now().finished_at_unix(), 0);
  EXPECT_EQ(*ReadFile(temp_.path() / "controller" / "admin" / "ca.pem"),
            keyring_->signing()->certificate().ToPem());

  auto status = rotation_->Describe();
  EXPECT_EQ(status.trusted_fingerprints_size(), 1);
  EXPECT_EQ(status.ca_fingerprint(), status.trusted_fingerprints(0));
  EXPECT_EQ(status.ca_fingerprint(), Now().new_ca_fingerprint());
  EXPECT_GT(status.ca_not_after_unix(), 0);
  // A finished rotation does not stop the next one.
  EXPECT_TRUE(rotation_->Begin(0, "admin").ok());
}

TEST_F(CaRotationTest, TrustWaitsForTheControllersOwnTlsToReload) {
  settle_ = std::chrono::hours(1);
  Restart();
  fleet_.trust = {0, 0, {}};
  ASSERT_TRUE(rotation_->Begin(0, "admin").ok());
  rotation_->Tick();
  EXPECT_EQ(Now().phase(), "trust");
  EXPECT_THAT(Now().message(), HasSubstr("controller's own TLS"));
  EXPECT_EQ(SigningFp(), old_fp_);
}

TEST_F(CaRotationTest, AtMostBatchSizeRenewalsAreOutstanding) {
  for (const char* host : {"a.example.com", "b.example.com", "c.example.com"}) Enroll(host);
  fleet_.connected = {"a.example.com", "b.example.com", "c.example.com"};
  fleet_.start_result = std::string();  // no service certificates
  ASSERT_TRUE(rotation_->Begin(2, "admin").ok());
  ThroughTrust();
  rotation_->Tick();
  EXPECT_THAT(fleet_.renewals, ElementsAre("a.example.com", "b.example.com"));
  rotation_->Tick();
  EXPECT_EQ(fleet_.renewals.size(), 2u) << "no more until one answers";
  Renew("a.example.com");
  rotation_->Tick();
  EXPECT_THAT(fleet_.renewals, ElementsAre("a.example.com", "b.example.com", "c.example.com"));
  EXPECT_EQ(Now().identities_reissued(), 1u);
  EXPECT_THAT(Now().waiting_for(), ElementsAre("b.example.com", "c.example.com"));
  Renew("b.example.com");
  Renew("c.example.com");
  EXPECT_TRUE(TickTo("retire")) << "no service certificates: identities alone finish phase 2";
}

TEST_F(CaRotationTest, OfflineHostsAreNotAskedButAreWaitedFor) {
  Enroll("a.example.com");
  Enroll("gone.example.com");
  fleet_.connected = {"a.example.com"};
  fleet_.start_result = std::string();
  ASSERT_TRUE(rotation_->Begin(0, "admin").ok());
  ThroughTrust();
  rotation_->Tick();
  EXPECT_THAT(fleet_.renewals, ElementsAre("a.example.com"));
  Renew("a.example.com");
  rotation_->Tick();
  rotation_->Tick();
  EXPECT_EQ(Now().phase(), "reissue");
  EXPECT_THAT(Now().waiting_for(), ElementsAre("gone.example.com"));
  // A removed host no longer counts.
  ASSERT_TRUE(store_->RemoveHost("gone.example.com", std::chrono::system_clock::now(), "test").ok());
  EXPECT_TRUE(TickTo("retire"));
}

TEST_F(CaRotationTest, PauseHoldsEveryPhaseAndResumeContinues) {
  fleet_.trust = {1, 0, {"a.example.com"}};
  ASSERT_TRUE(rotation_->Begin(0, "admin").ok());
  fleet_.trust = {1, 1, {}};
  auto paused = rotation_->Control(v1::CA_ROTATION_PAUSE, "ops");
  ASSERT_TRUE(paused.ok());
  EXPECT_EQ(paused->state(), "paused");
  EXPECT_THAT(paused->message(), HasSubstr("ops"));
  EXPECT_TRUE(rotation_->Control(v1::CA_ROTATION_PAUSE, "ops").ok()) << "pausing twice is fine";
  for (int i = 0; i < 3; ++i) rotation_->Tick();
  EXPECT_EQ(Now().phase(), "trust");
  EXPECT_EQ(SigningFp(), old_fp_);
  // Paused survives a restart.
  Restart();
  rotation_->Tick();
  EXPECT_EQ(Now().state(), "paused");
  ASSERT_TRUE(rotation_->Control(v1::CA_ROTATION_RESUME, "ops").ok());
  EXPECT_EQ(Now().state(), "running");
  EXPECT_TRUE(TickTo("reissue"));
}

TEST_F(CaRotationTest, FailedCertificateRolloutPausesAndResumeStartsANewOne) {
  fleet_.trust = {0, 0, {}};
  ASSERT_TRUE(rotation_->Begin(0, "admin").ok());
  ASSERT_TRUE(TickTo("reissue"));
  rotation_->Tick();
  EXPECT_EQ(Now().certificate_rollout_id(), "r-1");
  fleet_.rollout_states["r-1"] = {"failed", true, "web1: service did not come back"};
  rotation_->Tick();
  EXPECT_EQ(Now().state(), "paused");
  EXPECT_THAT(Now().message(), HasSubstr("r-1 failed: web1: service did not come back"));
  rotation_->Tick();
  EXPECT_EQ(fleet_.rollouts_started, 1);

  fleet_.start_result = std::string("r-2");
  fleet_.rollout_states["r-2"] = {"succeeded", true, ""};
  ASSERT_TRUE(rotation_->Control(v1::CA_ROTATION_RESUME, "ops").ok());
  EXPECT_TRUE(TickTo("retire"));
  EXPECT_EQ(fleet_.rollouts_started, 2);
  EXPECT_EQ(Now().certificate_rollout_id(), "r-2");
}

TEST_F(CaRotationTest, CertificateRolloutThatCannotStartIsRetried) {
  fleet_.trust = {0, 0, {}};
  fleet_.start_result = Status::FailedPrecondition("host web1 is held by rollout r-0");
  ASSERT_TRUE(rotation_->Begin(0, "admin").ok());
  ASSERT_TRUE(TickTo("reissue"));
  rotation_->Tick();
  EXPECT_THAT(Now().message(), HasSubstr("held by rollout r-0"));
  EXPECT_EQ(Now().state(), "running");
  fleet_.start_result = std::string("r-1");
  fleet_.rollout_states["r-1"] = {"succeeded", true, ""};
  EXPECT_TRUE(TickTo("retire"));
}

TEST_F(CaRotationTest, RefusesASecondRotationAndControlWithoutOne) {
  auto control = rotation_->Control(v1::CA_ROTATION_PAUSE, "ops");
  EXPECT_EQ(control.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(control.status().message(), HasSubstr("ca rotate"));
  EXPECT_FALSE(rotation_->Describe().has_rotation());

  fleet_.trust = {1, 0, {"a.example.com"}};
  auto first = rotation_->Begin(0, "admin");
  ASSERT_TRUE(first.ok());
  auto second = rotation_->Begin(0, "admin");
  EXPECT_EQ(second.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr(first->id()));
  auto bad = rotation_->Control(v1::CA_ROTATION_ACTION_UNSPECIFIED, "ops");
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
}

// A restart with the rotation stored in each phase (before that phase did
// anything) resumes and finishes it.
class CaRotationRestart : public CaRotationTest,
                          public ::testing::WithParamInterface<const char*> {};

TEST_P(CaRotationRestart, ResumesFromTheStoredPhase) {
  const std::string phase = GetParam();
  Enroll("a.example.com");
  fleet_.connected = {"a.example.com"};
  fleet_.trust = {1, 0, {"a.example.com"}};
  fleet_.rollout_states["r-1"] = {"succeeded", true, ""};
  ASSERT_TRUE(rotation_->Begin(0, "admin").ok());
  const std::string id = Now().id();
  const std::string new_fp = keyring_->next()->Sha256Fingerprint();
  fleet_.trust = {1, 1, {}};
  if (phase != "trust") {
    ASSERT_TRUE(TickTo("reissue"));
  }
  if (phase == "retire") {
    rotation_->Tick();
    Renew("a.example.com");
    ASSERT_TRUE(TickTo("retire"));
  }
  Restart();
  EXPECT_EQ(Now().id(), id);
  EXPECT_EQ(Now().phase(), phase);
  EXPECT_EQ(Now().state(), "running");
  fleet_.trust = {1, 1, {}};
  if (phase != "retire") {
    ASSERT_TRUE(TickTo("reissue"));
    rotation_->Tick();
    EXPECT_EQ(SigningFp(), new_fp);
    Renew("a.example.com");
  }
  ASSERT_TRUE(TickTo("done")) << Now().message();
  EXPECT_EQ(Now().state(), "succeeded");
  EXPECT_EQ(SigningFp(), new_fp);
  EXPECT_EQ(keyring_->TrustedFingerprints().size(), 1u);
  EXPECT_TRUE(ChainsToSigning(FileCert("server/cert.pem"), certs::Usage::kServer));
}

INSTANTIATE_TEST_SUITE_P(Phases, CaRotationRestart,
                         ::testing::Values("trust", "reissue", "retire"));

TEST_F(CaRotationTest, RecoverReissuesOurCertificatesLeftUnderTheOldCa) {
  // A crash right after PromoteNext, before the server certificate moved.
  ASSERT_TRUE(keyring_->PrepareNext("Topos CA new").ok());
  ASSERT_TRUE(keyring_->PromoteNext().ok());
  EXPECT_FALSE(ChainsToSigning(FileCert("server/cert.pem"), certs::Usage::kServer));
  Restart();
  EXPECT_TRUE(ChainsToSigning(FileCert("server/cert.pem"), certs::Usage::kServer));
  EXPECT_TRUE(ChainsToSigning(FileCert("admin/cert.pem"), certs::Usage::kClient));
}

TEST_F(CaRotationTest, CrlIsSignedByTheSigningCaAndForTheHostsByThePreviousOneToo) {
  tc::CrlPublisher crl(
      *store_, [this] { return keyring_->signing(); }, [this] { return keyring_->previous_ca(); },
      temp_.path() / "controller" / "ca" / "crl.pem");
  int heard = 0;
  std::string last_trust_pem;
  crl.SetListener([&](const tc::PublishedCrl& published) {
    ++heard;
    last_trust_pem = published.trust_pem;
  });
  const auto now = std::chrono::system_clock::now();
  ASSERT_TRUE(crl.Refresh(now).ok());
  EXPECT_EQ(heard, 1);
  EXPECT_EQ(last_trust_pem, crl.Current().pem) << "one CA: one CRL";

  const certs::Certificate old_ca = keyring_->signing()->certificate();
  ASSERT_TRUE(keyring_->PrepareNext("Topos CA new").ok());
  ASSERT_TRUE(keyring_->PromoteNext().ok());
  ASSERT_TRUE(crl.Refresh(now).ok());
  EXPECT_EQ(heard, 2);
  const tc::PublishedCrl published = crl.Current();
  EXPECT_TRUE(certs::VerifyCrl(published.pem, keyring_->signing()->certificate()).ok());
  ASSERT_GT(published.trust_pem.size(), published.pem.size());
  EXPECT_EQ(published.trust_pem.substr(0, published.pem.size()), published.pem);
  EXPECT_TRUE(certs::VerifyCrl(published.trust_pem.substr(published.pem.size()), old_ca).ok());
  EXPECT_EQ(last_trust_pem, published.trust_pem);

  ASSERT_TRUE(keyring_->RetirePrevious().ok());
  ASSERT_TRUE(crl.Refresh(now).ok());
  EXPECT_EQ(crl.Current().trust_pem, crl.Current().pem);
}

}  // namespace
}  // namespace topos
