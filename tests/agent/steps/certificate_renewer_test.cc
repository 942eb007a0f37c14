// The agent's own renewal of service certificates: when a certificate is
// due (RenewalDueAt, pure), and the renewer running request_certificate and
// assign_certificate through the executor against a fake controller.
#include "agent/steps/certificate_renewer.h"

#include "certs/certificate.h"
#include "tests/agent/steps/fake_certificate_controller.h"
#include "tests/agent/steps/steps_fixture.h"

namespace topos::agent::steps_test {
namespace {

using std::chrono::system_clock;

TEST(RenewalDueAt, TwoThirdsOfTheLifetimeWithoutJitter) {
  const system_clock::time_point t0{std::chrono::seconds(1'700'000'000)};
  EXPECT_EQ(RenewalDueAt(t0, t0 + 300s, 0.0), t0 + 200s);
  EXPECT_EQ(RenewalDueAt(t0, t0 + 3s, 0.0), t0 + 2s);
}

TEST(RenewalDueAt, JitterMovesItEarlierByAFractionOfTheLifetime) {
  const system_clock::time_point t0{std::chrono::seconds(1'700'000'000)};
  EXPECT_EQ(RenewalDueAt(t0, t0 + 300s, 0.1), t0 + 170s);
  // Just under the upper bound of u: still after not_before + 17/30.
  auto due = RenewalDueAt(t0, t0 + 300s, 0.0999999);
  EXPECT_GT(due, t0 + 170s);
  EXPECT_LT(due, t0 + 170s + 1ms);
  // A year-long certificate: no overflow, second precision.
  auto year = std::chrono::hours(24 * 365);
  auto long_due = RenewalDueAt(t0, t0 + year, 0.05);
  auto expected = t0 + std::chrono::duration_cast<system_clock::duration>(year * (2.0 / 3.0 - 0.05));
  EXPECT_LT(std::chrono::abs(long_due - expected), 1s);
}

TEST(RenewalDueAt, OutOfRangeJitterIsClampedAndEmptyLifetimesAreDueAtOnce) {
  const system_clock::time_point t0{std::chrono::seconds(1'700'000'000)};
  EXPECT_EQ(RenewalDueAt(t0, t0 + 300s, -0.5), t0 + 200s);
  EXPECT_EQ(RenewalDueAt(t0, t0 + 300s, 5.0), t0) << "never later than not_before";
  EXPECT_EQ(RenewalDueAt(t0, t0, 0.05), t0);
  EXPECT_EQ(RenewalDueAt(t0, t0 - 10s, 0.05), t0) << "not_after before not_before";
}

class Renewer : public StepsTest {
 protected:
  void SetUp() override {
    StepsTest::SetUp();
    context_.controller = controller_.Stubs();
    executor_ = std::make_unique<StepExecutor>(context_);
    executor_->SetSink(log_.Sink());
    executor_->Start();
  }
  void TearDown() override {
    renewer_.reset();
    executor_.reset();
    StepsTest::TearDown();
  }

  // Installs "web" (bound, not running) and assigns it a certificate valid
  // for `validity` (plus the CA's 5 minutes of backdating).
  void InstallWithCertificate(std::chrono::seconds validity) {
    auto manifest = Manifest("web", "1.0");
    manifest.mutable_certificate();
    ASSERT_TRUE(Install(manifest, {IdleService()}).ok());
    controller_.set_validity(validity);
    RunStep request = Step("deploy-request", topos::v1::REQUEST_CERTIFICATE, "web");
    executor_->Submit(request);
    executor_->Submit(Step("deploy-assign", topos::v1::ASSIGN_CERTIFICATE, "web"));
    ASSERT_TRUE(executor_->WaitIdle(20s));
    ASSERT_EQ(Serial(), journal_->GetService("web")->certificate_serial());
    ASSERT_FALSE(Serial().empty());
    controller_.set_validity(std::chrono::hours(24));
  }
  std::string Serial() {
    auto certificate = certs::Certificate::FromPem(Slurp(ServiceDir("web") / "tls" / "cert.pem"));
    return certificate.ok() ? certificate->serial_hex() : "";
  }
  std::optional<topos::v1::JournalEntry> Journaled(const std::string& id) {
    auto entry = journal_->Find(id);
    if (!entry.ok()) return std::nullopt;
    return *entry;
  }
  void MakeRenewer(std::chrono::milliseconds interval) {
    RenewerOptions options;
    options.interval = interval;
    options.step_deadline = 20s;
    renewer_ = std::make_unique<CertificateRenewer>(context_, *executor_, options);
  }

  FakeCertificateController controller_;
  UpdateLog log_;
  std::unique_ptr<StepExecutor> executor_;
  std::unique_ptr<CertificateRenewer> renewer_;
};

TEST_F(Renewer, RenewsAShortLivedCertificateThroughJournaledSteps) {
  InstallWithCertificate(10s);  // 310 s of lifetime, 300 s of it gone: due
  const std::string old_serial = Serial();
  MakeRenewer(50ms);
  renewer_->Start();
  ASSERT_TRUE(Eventually([&] { return renewer_->renewals() == 1; }, 10s));
  renewer_->Stop();

  EXPECT_NE(Serial(), old_serial);
  EXPECT_EQ(journal_->GetService("web")->certificate_serial(), Serial());
  EXPECT_EQ(controller_.signed_count(), 2) << "renewed once; the new certificate is not due";
  const std::string base = "renew-web-" + old_serial;
  auto request = Journaled(base + "-request-1");
  ASSERT_TRUE(request);
  EXPECT_EQ(request->state(), topos::v1::STEP_SUCCEEDED);
  EXPECT_TRUE(request->step().reissue());
  auto assign = Journaled(base + "-assign-1");
  ASSERT_TRUE(assign);
  EXPECT_EQ(assign->state(), topos::v1::STEP_SUCCEEDED);
  // The outcomes go where every step's go: to the controller's sink.
  ASSERT_EQ(log_.Finals(base + "-assign-1").size(), 1u);
  EXPECT_THAT(log_.Finals(base + "-assign-1")[0].result().summary(), HasSubstr("assigned to web"));
}

TEST_F(Renewer, LeavesACertificateThatIsNotDueAlone) {
  InstallWithCertificate(std::chrono::hours(1));  // due in about 38 minutes at the earliest
  const std::string serial = Serial();
  MakeRenewer(10s);
  renewer_->CheckNow();
  EXPECT_EQ(Serial(), serial);
  EXPECT_EQ(controller_.signed_count(), 1);
  EXPECT_FALSE(Journaled("renew-web-" + serial + "-request-1"));
}

TEST_F(Renewer, PendingIsAskedAboutAgainAtTheNextCheck) {
  InstallWithCertificate(10s);
  const std::string base = "renew-web-" + Serial();
  MakeRenewer(10s);
  controller_.set_answer(FakeCertificateController::Answer::kPending);
  renewer_->CheckNow();
  ASSERT_TRUE(Journaled(base + "-request-1"));
  EXPECT_EQ(Journaled(base + "-request-1")->state(), topos::v1::STEP_PENDING);
  EXPECT_FALSE(Journaled(base + "-assign-1")) << "nothing to assign yet";

  controller_.set_answer(FakeCertificateController::Answer::kIssue);
  renewer_->CheckNow();  // no back-off for a pending answer
  ASSERT_TRUE(Journaled(base + "-request-2"));
  EXPECT_EQ(Journaled(base + "-request-2")->state(), topos::v1::STEP_SUCCEEDED);
  EXPECT_EQ(controller_.followups(), 1) << "asked about the pending request, no new CSR";
  ASSERT_TRUE(Journaled(base + "-assign-1"));
  EXPECT_EQ(renewer_->renewals(), 1);
}

TEST_F(Renewer, FailureBacksOff) {
  InstallWithCertificate(10s);
  const std::string base = "renew-web-" + Serial();
  MakeRenewer(10s);
  controller_.set_answer(FakeCertificateController::Answer::kDeny);
  renewer_->CheckNow();
  ASSERT_TRUE(Journaled(base + "-request-1"));
  EXPECT_EQ(Journaled(base + "-request-1")->state(), topos::v1::STEP_FAILED);
  EXPECT_THAT(Journaled(base + "-request-1")->result().error(), HasSubstr("was denied"));

  controller_.set_answer(FakeCertificateController::Answer::kIssue);
  renewer_->CheckNow();  // within the back-off (20 s)
  EXPECT_FALSE(Journaled(base + "-request-2"));
  EXPECT_EQ(renewer_->renewals(), 0);
}

TEST_F(Renewer, WaitsWhileAStepForTheServiceIsRunning) {
  InstallWithCertificate(10s);
  const std::string base = "renew-web-" + Serial();
  MakeRenewer(10s);
  // A controller step about web that runs until the store reaches version 5.
  RunStep blocking = Step("controller-step", topos::v1::SETUP_LOCAL_STORE, "web");
  blocking.set_config_version(5);
  executor_->Submit(blocking);
  ASSERT_TRUE(Eventually([&] { return executor_->Busy("web"); }));
  renewer_->CheckNow();
  EXPECT_FALSE(Journaled(base + "-request-1")) << "not while the controller's step runs";

  applied_ = 5;
  ASSERT_TRUE(executor_->WaitIdle(10s));
  EXPECT_FALSE(executor_->Busy("web"));
  renewer_->CheckNow();
  EXPECT_TRUE(Journaled(base + "-request-1"));
  EXPECT_EQ(renewer_->renewals(), 1);
}

}  // namespace
}  // namespace topos::agent::steps_test
