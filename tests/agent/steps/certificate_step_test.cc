// request_certificate and assign_certificate against a fake controller:
// reissue replaces a good certificate and a resend does not sign twice; a
// signal reload is followed by the health check; RefreshServiceTrust
// rewrites the CA file of bound services only.
#include "tests/agent/steps/fake_certificate_controller.h"
#include "tests/agent/steps/steps_fixture.h"

#include "certs/certificate.h"

namespace topos::agent::steps_test {
namespace {

using Phase = ServiceState::Phase;

class CertificateStep : public StepsTest {
 protected:
  void SetUp() override {
    StepsTest::SetUp();
    context_.controller = controller_.Stubs();
  }

  // bin/svc behind a certificate binding with default files, reloaded by
  // `reload`; health check `test -f ready`, never restarted.
  static topos::v1::Service Bound(const std::string& name, const std::string& reload = "") {
    auto manifest = Manifest(name, "1.0");
    manifest.mutable_certificate();
    manifest.set_reload(reload);
    manifest.mutable_health_check()->set_command("test -f ready");
    manifest.mutable_health_check()->set_timeout_seconds(1);
    manifest.mutable_restart()->set_policy("never");
    return manifest;
  }

  Result<StepResult> Request(const std::string& id, const std::string& service, bool reissue,
                             bool* pending_out = nullptr,
                             std::chrono::milliseconds time_left = 20s) {
    RunStep step = Step(id, topos::v1::REQUEST_CERTIFICATE, service);
    step.set_reissue(reissue);
    std::atomic<bool> cancelled{false};
    StepRun run{step, cancelled, std::chrono::steady_clock::now() + time_left,
                [](std::string_view) {}};
    bool pending = false;
    auto result = RequestCertificateStep(context_, run, &pending);
    if (pending_out != nullptr) *pending_out = pending;
    return result;
  }
  Result<StepResult> Assign(const std::string& id, const std::string& service) {
    return Run(AssignCertificateStep, Step(id, topos::v1::ASSIGN_CERTIFICATE, service));
  }
  std::string AssignedSerial(const std::string& service) {
    auto certificate = certs::Certificate::FromPem(Slurp(ServiceDir(service) / "tls" / "cert.pem"));
    return certificate.ok() ? certificate->serial_hex() : "";
  }
  // Installs `manifest` from bin/svc = `body` and assigns it a first certificate.
  void InstallWithCertificate(const topos::v1::Service& manifest, const std::string& body) {
    auto installed = Install(manifest, {Script("bin/svc", body)});
    ASSERT_TRUE(installed.ok()) << installed.status().message();
    auto requested = Request("req-0", manifest.name(), false);
    ASSERT_TRUE(requested.ok()) << requested.status().message();
    auto assigned = Assign("assign-0", manifest.name());
    ASSERT_TRUE(assigned.ok()) << assigned.status().message();
    ASSERT_FALSE(AssignedSerial(manifest.name()).empty());
  }
  Result<StepResult> StartWeb() {
    return Run(StartServiceStep, Step("start-web", topos::v1::START_SERVICE, "web"));
  }

  FakeCertificateController controller_;
};

constexpr const char* kIdle = "touch ready\nexec sleep 1000";

// A controller signing a fleet's requests at once may take longer than one
// call usually does: the request waits as long as the step may, so a long
// step is not failed after a fixed 15 s, and a short one still ends on time.
TEST_F(CertificateStep, RequestWaitsForTheControllerAsLongAsTheStepMay) {
  ASSERT_TRUE(Install(Bound("web"), {Script("bin/svc", kIdle)}).ok());
  auto requested = Request("req-long", "web", false, nullptr, 300s);
  ASSERT_TRUE(requested.ok()) << requested.status().message();
  EXPECT_GT(controller_.last_time_allowed(), 290s);
  EXPECT_LE(controller_.last_time_allowed(), 300s);

  requested = Request("req-short", "web", true, nullptr, 3s);
  ASSERT_TRUE(requested.ok()) << requested.status().message();
  EXPECT_GT(controller_.last_time_allowed(), 1s);
  EXPECT_LE(controller_.last_time_allowed(), 3s);
}

// A connection of the step's own costs the controller a mutual-TLS
// handshake per certificate: while the link is up, requests go over it.
TEST_F(CertificateStep, RequestGoesOverTheLinksConnectionWhileItIsUp) {
  ASSERT_TRUE(Install(Bound("web"), {Script("bin/svc", kIdle)}).ok());
  auto own_connection = controller_.Stubs();
  int own_connections = 0;
  context_.controller = [&] {
    ++own_connections;
    return own_connection();
  };
  bool link_up = true;
  int link_calls = 0;
  context_.controller_on_link = [&]() -> std::unique_ptr<topos::v1::AgentService::StubInterface> {
    ++link_calls;
    return link_up ? own_connection() : nullptr;
  };

  auto requested = Request("req-link", "web", true);
  ASSERT_TRUE(requested.ok()) << requested.status().message();
  EXPECT_EQ(link_calls, 1);
  EXPECT_EQ(own_connections, 0);

  auto assigned = Assign("assign-link", "web");
  ASSERT_TRUE(assigned.ok()) << assigned.status().message();

  link_up = false;  // reconnecting: the step still gets its certificate
  requested = Request("req-own", "web", true);
  ASSERT_TRUE(requested.ok()) << requested.status().message();
  EXPECT_EQ(link_calls, 2);
  EXPECT_EQ(own_connections, 1);
  EXPECT_EQ(controller_.signed_count(), 2);
}

TEST_F(CertificateStep, ReissueReplacesACertificateThatIsStillGood) {
  InstallWithCertificate(Bound("web"), kIdle);
  const std::string first = AssignedSerial("web");
  ASSERT_EQ(controller_.signed_count(), 1);

  auto plain = Request("req-1", "web", false);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_THAT(plain->summary(), HasSubstr("is current"));
  EXPECT_FALSE(plain->changed());
  EXPECT_EQ(controller_.signed_count(), 1) << "a good certificate is kept without reissue";

  auto reissued = Request("req-2", "web", true);
  ASSERT_TRUE(reissued.ok()) << reissued.status().message();
  EXPECT_TRUE(reissued->changed());
  EXPECT_THAT(reissued->summary(), HasSubstr("issued for host1.example.test"));
  EXPECT_EQ(controller_.signed_count(), 2);
  auto assigned = Assign("assign-2", "web");
  ASSERT_TRUE(assigned.ok()) << assigned.status().message();
  EXPECT_NE(AssignedSerial("web"), first);
  auto record = journal_->GetService("web");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->certificate_serial(), AssignedSerial("web"));
}

TEST_F(CertificateStep, ResentReissueAssignsTheWaitingCertificateInsteadOfSigningAgain) {
  InstallWithCertificate(Bound("web"), kIdle);
  const std::string first = AssignedSerial("web");
  ASSERT_TRUE(Request("req-1", "web", true).ok());
  ASSERT_EQ(controller_.signed_count(), 2);

  // The controller resends (a new step after a reconnect, or a retried rollout).
  auto resent = Request("req-1-again", "web", true);
  ASSERT_TRUE(resent.ok()) << resent.status().message();
  EXPECT_THAT(resent->summary(), HasSubstr("waits to be assigned"));
  EXPECT_FALSE(resent->changed());
  EXPECT_EQ(controller_.signed_count(), 2) << "signed once per reissue";

  ASSERT_TRUE(Assign("assign-1", "web").ok());
  const std::string second = AssignedSerial("web");
  EXPECT_NE(second, first);
  // Once assigned, the next reissue is a new one.
  ASSERT_TRUE(Request("req-3", "web", true).ok());
  EXPECT_EQ(controller_.signed_count(), 3);
}

TEST_F(CertificateStep, ReissueDoesNotAssignACertificateWaitingFromAnOrdinaryRequest) {
  InstallWithCertificate(Bound("web"), kIdle);
  // Not due, so an ordinary request does nothing; fake one that waits from
  // before (issued, never assigned, not for a reissue): a CA rotation must
  // not assign it.
  fs::path pending = ServiceDir("web") / ".tls-pending";
  fs::create_directories(pending);
  fs::copy_file(ServiceDir("web") / "tls" / "key.pem", pending / "key.pem");
  fs::copy_file(ServiceDir("web") / "tls" / "cert.pem", pending / "cert.pem");
  fs::copy_file(ServiceDir("web") / "tls" / "ca.pem", pending / "ca.pem");
  auto reissued = Request("req-1", "web", true);
  ASSERT_TRUE(reissued.ok()) << reissued.status().message();
  EXPECT_TRUE(reissued->changed());
  EXPECT_EQ(controller_.signed_count(), 2);
}

TEST_F(CertificateStep, PendingReissueAsksAboutTheSameRequestAgain) {
  InstallWithCertificate(Bound("web"), kIdle);
  controller_.set_answer(FakeCertificateController::Answer::kPending);
  bool pending = false;
  auto waiting = Request("req-1", "web", true, &pending);
  ASSERT_TRUE(waiting.ok()) << waiting.status().message();
  EXPECT_TRUE(pending);
  EXPECT_THAT(waiting->summary(), HasSubstr("waits for approval (names not granted)"));
  controller_.set_answer(FakeCertificateController::Answer::kIssue);
  auto issued = Request("req-2", "web", true, &pending);
  ASSERT_TRUE(issued.ok()) << issued.status().message();
  EXPECT_FALSE(pending);
  EXPECT_EQ(controller_.followups(), 1) << "the second request asks about the first";
  EXPECT_EQ(controller_.signed_count(), 2);
}

TEST_F(CertificateStep, SignalReloadIsFollowedByTheHealthCheck) {
  const std::string body =
      "trap 'echo reloaded' HUP\ntouch ready\nwhile :; do sleep 0.1; done";
  InstallWithCertificate(Bound("web", "HUP"), body);
  auto started = StartWeb();
  ASSERT_TRUE(started.ok()) << started.status().message();
  ASSERT_TRUE(Request("req-1", "web", true).ok());

  auto assigned = Assign("assign-1", "web");
  ASSERT_TRUE(assigned.ok()) << assigned.status().message();
  EXPECT_THAT(assigned->summary(), HasSubstr("sent HUP, reloaded, healthy"));
  EXPECT_EQ(assigned->pid(), started->pid()) << "reloaded, not restarted";
  EXPECT_TRUE(Alive(started->pid()));
  EXPECT_TRUE(Eventually([&] {
    return Slurp(ServiceDir("web") / "service.log").find("reloaded") != std::string::npos;
  }));
  auto record = journal_->GetService("web");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->health(), "healthy");
}

TEST_F(CertificateStep, ServiceThatDiesOnTheReloadSignalFailsTheStep) {
  // No trap: SIGHUP ends the process.
  InstallWithCertificate(Bound("web", "HUP"), kIdle);
  ASSERT_TRUE(StartWeb().ok());
  ASSERT_TRUE(Request("req-1", "web", true).ok());

  auto assigned = Assign("assign-1", "web");
  ASSERT_FALSE(assigned.ok());
  EXPECT_EQ(assigned.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(assigned.status().message(), HasSubstr("web did not stay healthy after HUP"));
  EXPECT_THAT(assigned.status().message(), HasSubstr("exited"));
  auto record = journal_->GetService("web");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->health(), "unhealthy");
}

TEST_F(CertificateStep, ServiceUnhealthyAfterTheReloadSignalFailsTheStep) {
  const std::string body = "trap 'rm -f ready' HUP\ntouch ready\nwhile :; do sleep 0.1; done";
  InstallWithCertificate(Bound("web", "HUP"), body);
  ASSERT_TRUE(StartWeb().ok());
  ASSERT_TRUE(Request("req-1", "web", true).ok());

  auto started = std::chrono::steady_clock::now();
  auto assigned = Assign("assign-1", "web");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 8s);
  ASSERT_FALSE(assigned.ok());
  EXPECT_THAT(assigned.status().message(), HasSubstr("web did not stay healthy after HUP"));
  EXPECT_THAT(assigned.status().message(), HasSubstr("health check command: test -f ready"));
  EXPECT_THAT(assigned.status().message(), HasSubstr("did not pass within 1s"));
}

TEST_F(CertificateStep, RefreshServiceTrustRewritesTheCaFileOfBoundServicesOnly) {
  InstallWithCertificate(Bound("web"), kIdle);
  auto plain = Install(Manifest("plain", "1.0"), {IdleService()});
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  // Publish both, since Install publishes only its own manifest.
  Publish({Bound("web"), Manifest("plain", "1.0"), Bound("later")});
  auto other_ca = certs::CertificateAuthority::Create("Next CA");
  ASSERT_TRUE(other_ca.ok());
  const std::string bundle = controller_.ca_pem() + other_ca->certificate().ToPem();
  StepExecutor executor(context_);

  auto rewritten = executor.RefreshServiceTrust(bundle);
  ASSERT_TRUE(rewritten.ok()) << rewritten.status().message();
  EXPECT_EQ(*rewritten, 1);
  EXPECT_EQ(Slurp(ServiceDir("web") / "tls" / "ca.pem"), bundle);
  EXPECT_FALSE(fs::exists(ServiceDir("plain") / "tls")) << "a service without a binding is left alone";
  EXPECT_FALSE(fs::exists(ServiceDir("later") / "tls")) << "not installed: nothing to refresh";

  auto again = executor.RefreshServiceTrust(bundle);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0) << "unchanged files are not rewritten";

  auto garbage = executor.RefreshServiceTrust("not a certificate");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Slurp(ServiceDir("web") / "tls" / "ca.pem"), bundle) << "bad trust never replaces good";
}

TEST_F(CertificateStep, RefreshedTrustWinsOverTheBundleALaterAssignmentBrings) {
  InstallWithCertificate(Bound("web"), kIdle);
  auto other_ca = certs::CertificateAuthority::Create("Next CA");
  ASSERT_TRUE(other_ca.ok());
  const std::string bundle = controller_.ca_pem() + other_ca->certificate().ToPem();
  StepExecutor executor(context_);
  UpdateLog log;
  executor.SetSink(log.Sink());
  executor.Start();
  ASSERT_TRUE(executor.RefreshServiceTrust(bundle).ok());

  RunStep request = Step("req-1", topos::v1::REQUEST_CERTIFICATE, "web");
  request.set_reissue(true);
  executor.Submit(request);
  executor.Submit(Step("assign-1", topos::v1::ASSIGN_CERTIFICATE, "web"));
  ASSERT_TRUE(executor.WaitIdle(20s));
  executor.Stop();
  ASSERT_EQ(log.Finals("assign-1").size(), 1u);
  EXPECT_EQ(log.Finals("assign-1")[0].state(), topos::v1::STEP_SUCCEEDED)
      << log.Finals("assign-1")[0].result().error();
  EXPECT_EQ(Slurp(ServiceDir("web") / "tls" / "ca.pem"), bundle);
}

}  // namespace
}  // namespace topos::agent::steps_test
