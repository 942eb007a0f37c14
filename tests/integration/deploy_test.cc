// Deploy end to end in one process over real mutual TLS: a controller, whole
// agents (AgentNode: link, step executor, built-in supervisor) and the real
// topos-pchat binary from its real artifact. An operator pushes the
// artifact, publishes a topology and deploys host by host; the service
// answers HTTPS with the certificate the controller issued.
#include <gmock/gmock.h>
#include <signal.h>

#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "agent/state/agent_state.h"
#include "certs/certificate.h"
#include "certs/crypto.h"
#include "common/file_io.h"
#include "common/grpc_tls.h"
#include "tests/integration/deploy_test_support.h"
#include "tests/integration/fleet_fixture.h"

namespace topos::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using topos::v1::StepKind;

const std::vector<std::string> kHosts = {"chat01.contoso.test", "chat02.contoso.test",
                                         "chat03.contoso.test"};
constexpr char kService[] = "topos-pchat";
constexpr char kV1[] = "6.0.9319";

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool ProcessAlive(int pid) { return pid > 0 && kill(pid, 0) == 0; }

class DeployTest : public FleetTest {
 protected:
  void SetUp() override {
    FleetTest::SetUp();
    for (const auto& host : kHosts) {
      int port = FreePort();
      ASSERT_GT(port, 0);
      hosts_.push_back({host, port});
    }
  }

  void TearDown() override {
    nodes_.clear();  // links and executors stop; services keep running ...
    for (const auto& host : kHosts) {  // ... so stop them here
      auto services = agent::MakeServiceManager(agent::ServiceManagerKind::kSupervisor, StateDirOf(host));
      if (services.ok()) (void)(*services)->Stop(kService);
    }
    FleetTest::TearDown();
  }

  // Enrolls the first `n` hosts and starts their agents; waits until all
  // are connected.
  void BringUp(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(EnrollHost(kHosts[i]).ok());
      nodes_[kHosts[i]] = StartNode(kHosts[i]);
    }
    ASSERT_TRUE(Eventually([&] { return controller_->connected_agents() == n; }));
  }

  void RestartNode(const std::string& host) {
    nodes_[host].reset();
    nodes_[host] = StartNode(host);
  }

  grpc::Status Push(const std::string& content, const std::string& version) {
    topos::v1::PushArtifactChunk header;
    header.mutable_header()->set_service(kService);
    header.mutable_header()->set_version(version);
    header.mutable_header()->set_size(content.size());
    header.mutable_header()->set_sha256(certs::Sha256Hex(content));
    header.mutable_header()->set_file_name("topos-pchat-" + version + ".tar.gz");
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    topos::v1::PushArtifactResponse response;
    auto writer = AdminStub()->PushArtifact(&context, &response);
    bool sent = writer->Write(header);
    for (std::size_t at = 0; sent && at < content.size(); at += 1 << 20) {
      topos::v1::PushArtifactChunk chunk;
      chunk.set_data(content.substr(at, 1 << 20));
      sent = writer->Write(chunk);
    }
    writer->WritesDone();
    return writer->Finish();
  }

  // The artifact the build made (pchat_artifact).
  void PushRealArtifact() {
    std::string artifact = Slurp(TOPOS_PCHAT_ARTIFACT);
    ASSERT_FALSE(artifact.empty()) << "build target pchat_artifact first: " << TOPOS_PCHAT_ARTIFACT;
    grpc::Status status = Push(artifact, kV1);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // An artifact for `version` made here: the real binary, or what `entries` say.
  void PushMade(const std::string& version, std::vector<TarEntry> entries = {}) {
    if (entries.empty()) entries.push_back({"bin/topos-pchat", Slurp(TOPOS_PCHAT_BINARY), 0755});
    entries.push_back({"VERSION", version + "\n", 0644});
    grpc::Status status = Push(MakeTarGz(entries), version);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  std::uint64_t Publish(const PchatService& service) {
    topos::v1::PublishTopologyRequest request;
    request.set_topology_yaml(PchatTopologyYaml(hosts_, service));
    request.set_roles_yaml(PchatRolesYaml(hosts_.size()));
    request.set_source_name("deploy-test.yaml");
    request.set_message("deploy test");
    topos::v1::PublishTopologyResponse response;
    auto context = Context();
    grpc::Status status = AdminStub()->PublishTopology(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message() << "\n" << request.topology_yaml();
    return response.version().version();
  }

  DeployOutcome Deploy(const std::string& host, bool dry_run = false) {
    topos::v1::DeployRequest request;
    request.set_host_fqdn(host);
    request.set_dry_run(dry_run);
    request.set_step_timeout_seconds(15);
    return RunDeploy(*AdminStub(), request);
  }

  topos::v1::HostInfo GetHost(const std::string& host) {
    topos::v1::GetHostRequest request;
    request.set_fqdn(host);
    topos::v1::GetHostResponse response;
    auto context = Context();
    grpc::Status status = AdminStub()->GetHost(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.host();
  }

  // What `hosts show` says about topos-pchat on `host`; empty name if nothing.
  topos::v1::ServiceReport Reported(const std::string& host) {
    const topos::v1::HostInfo info = GetHost(host);
    for (const auto& service : info.services()) {
      if (service.name() == kService) return service;
    }
    return {};
  }

  // Waits until hosts show reports topos-pchat running `version` with `pid`
  // (any pid if 0); returns the last report.
  topos::v1::ServiceReport WaitReportedRunning(const std::string& host, const std::string& version,
                                               int pid = 0) {
    topos::v1::ServiceReport report;
    Eventually([&] {
      report = Reported(host);
      return report.state() == "running" && report.version() == version &&
             (pid == 0 || report.pid() == pid) && report.health() == "healthy";
    });
    return report;
  }

  int PortOf(const std::string& host) const {
    for (const auto& h : hosts_) {
      if (h.fqdn == host) return h.port;
    }
    return 0;
  }

  fs::path CaFile() const { return data_dir_ / "ca" / "ca.pem"; }
  fs::path ServiceDir(const std::string& host) const { return StateDirOf(host) / "services" / kService; }

  // The service on `host` answers HTTPS as `name`, verified against the
  // controller's CA (curl, as an operator would check it).
  void ExpectServes(const std::string& host, const std::string& name = "") {
    if (!HaveCurl()) {
      GTEST_SKIP() << "curl is not installed: the HTTPS check against the controller's CA is skipped";
    }
    HttpsAnswer answer = CurlHttps(CaFile(), name.empty() ? host : name, PortOf(host));
    EXPECT_EQ(answer.exit_code, 0) << answer.body;
    EXPECT_THAT(answer.body, HasSubstr("Hello from pchat on " + host));
  }

  // Deploys v1 on kHosts[0] and returns the running pid.
  int DeployV1() {
    DeployOutcome v1 = Deploy(kHosts[0]);
    EXPECT_TRUE(v1.done && v1.ok) << v1.Transcript();
    auto started = v1.Final(topos::v1::START_SERVICE);
    EXPECT_TRUE(started.has_value()) << v1.Transcript();
    return started ? started->result().pid() : 0;
  }

  // The previous version still serves, as pid `pid` if given.
  void ExpectV1Serving(int pid) {
    auto report = WaitReportedRunning(kHosts[0], kV1, pid);
    EXPECT_EQ(report.state(), "running");
    EXPECT_EQ(report.version(), kV1);
    EXPECT_EQ(report.health(), "healthy");
    if (pid != 0) {
      EXPECT_EQ(report.pid(), pid);
      EXPECT_TRUE(ProcessAlive(pid));
    }
    ExpectServes(kHosts[0]);
  }

  std::vector<PchatHost> hosts_;
  std::map<std::string, std::unique_ptr<agent::AgentNode>> nodes_;
};

std::vector<StepKind> KindsOf(const std::vector<topos::v1::RunStep>& steps) {
  std::vector<StepKind> kinds;
  for (const auto& step : steps) kinds.push_back(step.kind());
  return kinds;
}

const std::vector<StepKind> kPlan = {topos::v1::SETUP_LOCAL_STORE,  topos::v1::CHECK_PREREQUISITES,
                                     topos::v1::INSTALL_SERVICE,    topos::v1::REQUEST_CERTIFICATE,
                                     topos::v1::ASSIGN_CERTIFICATE, topos::v1::START_SERVICE};

TEST_F(DeployTest, DeploysTheServiceOnThreeHostsWhereItAnswersHttpsAndRedeployChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(BringUp(3));
  ASSERT_NO_FATAL_FAILURE(PushRealArtifact());
  ASSERT_EQ(Publish({}), 1u);

  std::map<std::string, int> pids;
  for (const auto& host : kHosts) {
    DeployOutcome outcome = Deploy(host);
    ASSERT_TRUE(outcome.status.ok()) << outcome.Transcript();
    ASSERT_TRUE(outcome.done && outcome.ok) << outcome.Transcript();
    EXPECT_THAT(outcome.message, HasSubstr("all 6 steps succeeded on " + host));
    EXPECT_EQ(KindsOf(outcome.Steps()), kPlan);
    auto install = outcome.Final(topos::v1::INSTALL_SERVICE);
    ASSERT_TRUE(install.has_value());
    EXPECT_TRUE(install->result().changed());
    EXPECT_THAT(install->result().summary(), HasSubstr(std::string("installed topos-pchat ") + kV1));
    auto certificate = outcome.Final(topos::v1::REQUEST_CERTIFICATE);
    ASSERT_TRUE(certificate.has_value());
    EXPECT_THAT(certificate->result().summary(), HasSubstr(host));
    EXPECT_THAT(certificate->result().summary(), HasSubstr(PoolFqdnOf(host)));
    auto started = outcome.Final(topos::v1::START_SERVICE);
    ASSERT_TRUE(started.has_value());
    EXPECT_GT(started->result().pid(), 0);
    EXPECT_THAT(started->result().summary(), HasSubstr("health check passed"));
    pids[host] = started->result().pid();
  }
  EXPECT_EQ(pids.size(), 3u);

  for (const auto& host : kHosts) {
    ExpectServes(host);
    auto report = WaitReportedRunning(host, kV1, pids[host]);
    EXPECT_EQ(report.pid(), pids[host]) << host;
    EXPECT_EQ(report.health(), "healthy");
    EXPECT_THAT(report.certificate_names(), Contains(host));
    EXPECT_THAT(report.certificate_names(), Contains(PoolFqdnOf(host)));
    EXPECT_GT(report.certificate_not_after_unix(), 0);
    auto info = GetHost(host);
    ASSERT_EQ(info.certificates_size(), 1) << host;
    EXPECT_EQ(info.certificates(0).state(), topos::v1::CERTIFICATE_ISSUED);
    EXPECT_EQ(info.certificates(0).decided_by(), "policy");
    EXPECT_FALSE(info.certificates(0).serial().empty());
  }

  // The same deploy again: every step finds nothing to do.
  DeployOutcome again = Deploy(kHosts[0]);
  ASSERT_TRUE(again.done && again.ok) << again.Transcript();
  auto finals = again.Finals();
  ASSERT_EQ(finals.size(), kPlan.size()) << again.Transcript();
  for (const auto& update : finals) {
    EXPECT_EQ(update.state(), topos::v1::STEP_SUCCEEDED);
    EXPECT_FALSE(update.result().changed())
        << topos::v1::StepKind_Name(update.kind()) << ": " << update.result().summary();
  }
  EXPECT_EQ(again.Final(topos::v1::START_SERVICE)->result().pid(), pids[kHosts[0]]);
  EXPECT_THAT(again.Final(topos::v1::START_SERVICE)->result().summary(), HasSubstr("already running"));
}

// The agent goes away while install_service runs its (slow) hook and a new
// agent starts on the same state directory: the deploy still completes and
// the step is journaled as succeeded exactly once (the controller resends it
// or takes its outcome from the new agent's journal).
TEST_F(DeployTest, AgentStoppedMidInstallAndRestartedCompletesTheDeployWithOneInstall) {
  ASSERT_NO_FATAL_FAILURE(BringUp(1));
  ASSERT_NO_FATAL_FAILURE(PushRealArtifact());
  const fs::path runs = StateDirOf(kHosts[0]) / "hook-runs";
  PchatService slow;
  slow.install_hook = {"sh", "-c", "echo run >> \"$TOPOS_SERVICE_DIR/../../hook-runs\"; sleep 2"};
  ASSERT_EQ(Publish(slow), 1u);

  auto deploy = std::async(std::launch::async, [&] { return Deploy(kHosts[0]); });
  ASSERT_TRUE(Eventually([&] { return fs::exists(runs); })) << "the install hook never ran";
  RestartNode(kHosts[0]);  // while the hook sleeps
  DeployOutcome outcome = deploy.get();

  EXPECT_TRUE(outcome.done && outcome.ok) << outcome.Transcript();
  auto install = outcome.Final(topos::v1::INSTALL_SERVICE);
  ASSERT_TRUE(install.has_value()) << outcome.Transcript();
  std::size_t succeeded = 0;
  for (const auto& entry : ReadJournal(StateDirOf(kHosts[0]))) {
    if (entry.step().step_id() == install->step_id() && entry.state() == topos::v1::STEP_SUCCEEDED) {
      ++succeeded;
    }
  }
  EXPECT_EQ(succeeded, 1u) << "journal entries for " << install->step_id();
  ASSERT_TRUE(outcome.ok) << "the service checks below would only wait for what cannot come";
  EXPECT_TRUE(fs::exists(ServiceDir(kHosts[0]) / "versions" / kV1 / "bin" / "topos-pchat"));
  WaitReportedRunning(kHosts[0], kV1);
  ExpectServes(kHosts[0]);
}

TEST_F(DeployTest, ServiceKeepsRunningAcrossAnAgentRestart) {
  ASSERT_NO_FATAL_FAILURE(BringUp(1));
  ASSERT_NO_FATAL_FAILURE(PushRealArtifact());
  ASSERT_EQ(Publish({}), 1u);
  const int pid = DeployV1();
  ASSERT_GT(pid, 0);
  WaitReportedRunning(kHosts[0], kV1, pid);

  nodes_[kHosts[0]].reset();
  ASSERT_TRUE(Eventually([&] { return StatusOf(kHosts[0]) == "offline"; }));
  EXPECT_TRUE(ProcessAlive(pid)) << "stopping the agent must not stop its services";
  ExpectServes(kHosts[0]);

  nodes_[kHosts[0]] = StartNode(kHosts[0]);
  ASSERT_TRUE(Eventually([&] { return StatusOf(kHosts[0]) == "online"; }));
  auto report = WaitReportedRunning(kHosts[0], kV1, pid);
  EXPECT_EQ(report.pid(), pid);
  EXPECT_EQ(report.state(), "running");
  EXPECT_EQ(nodes_[kHosts[0]]->services().Query(kService).pid, pid) << "adopted, not restarted";
  ExpectServes(kHosts[0]);

  DeployOutcome again = Deploy(kHosts[0]);
  ASSERT_TRUE(again.done && again.ok) << again.Transcript();
  EXPECT_EQ(again.Final(topos::v1::START_SERVICE)->result().pid(), pid);
  EXPECT_FALSE(again.Final(topos::v1::START_SERVICE)->result().changed());
}

TEST_F(DeployTest, CertificateForAnUngrantedNameWaitsForApprovalOrFailsWhenDenied) {
  ASSERT_NO_FATAL_FAILURE(BringUp(2));
  ASSERT_NO_FATAL_FAILURE(PushRealArtifact());
  PchatService with_public_name;
  with_public_name.extra_names = {"public.example.test"};
  ASSERT_EQ(Publish(with_public_name), 1u);

  DeployOutcome pending = Deploy(kHosts[0]);
  ASSERT_TRUE(pending.status.ok()) << pending.Transcript();
  EXPECT_TRUE(pending.done);
  EXPECT_FALSE(pending.ok);
  EXPECT_THAT(pending.message, HasSubstr("is waiting for approval"));
  auto requested = pending.Final(topos::v1::REQUEST_CERTIFICATE);
  ASSERT_TRUE(requested.has_value()) << pending.Transcript();
  EXPECT_EQ(requested->state(), topos::v1::STEP_PENDING);
  const std::string id = requested->result().certificate_request_id();
  ASSERT_FALSE(id.empty());
  EXPECT_THAT(requested->result().summary(), HasSubstr("toposctl certs approve " + id));
  EXPECT_THAT(requested->result().summary(), HasSubstr("public.example.test"));
  EXPECT_FALSE(pending.Final(topos::v1::START_SERVICE).has_value()) << "nothing after the pending step";

  topos::v1::ListCertificateRequestsRequest list;
  list.set_pending_only(true);
  topos::v1::ListCertificateRequestsResponse listed;
  {
    auto context = Context();
    ASSERT_TRUE(AdminStub()->ListCertificateRequests(context.get(), list, &listed).ok());
  }
  ASSERT_EQ(listed.requests_size(), 1);
  EXPECT_EQ(listed.requests(0).id(), id);
  EXPECT_EQ(listed.requests(0).host_fqdn(), kHosts[0]);
  EXPECT_EQ(listed.requests(0).state(), topos::v1::CERTIFICATE_PENDING);
  EXPECT_THAT(listed.requests(0).names(), Contains("public.example.test"));
  EXPECT_THAT(listed.requests(0).reason(), HasSubstr("public.example.test"));

  // An agent cannot approve its own request.
  {
    auto state = agent::StateDir(StateDirOf(kHosts[0])).Load();
    ASSERT_TRUE(state.ok());
    auto as_agent = topos::v1::AdminService::NewStub(
        MakeChannel(address(), MakeMutualTlsCredentials(state->identity), true));
    topos::v1::DecideCertificateRequestRequest decide;
    decide.set_id(id);
    decide.set_approve(true);
    topos::v1::DecideCertificateResponse response;
    auto context = Context();
    grpc::Status status = as_agent->DecideCertificateRequest(context.get(), decide, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  }

  topos::v1::DecideCertificateRequestRequest approve;
  approve.set_id(id);
  approve.set_approve(true);
  topos::v1::DecideCertificateResponse approved;
  {
    auto context = Context();
    grpc::Status status = AdminStub()->DecideCertificateRequest(context.get(), approve, &approved);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(approved.request().state(), topos::v1::CERTIFICATE_ISSUED);
  EXPECT_EQ(approved.request().decided_by(), "admin");

  DeployOutcome after = Deploy(kHosts[0]);
  ASSERT_TRUE(after.done && after.ok) << after.Transcript();
  ExpectServes(kHosts[0], "public.example.test");
  auto served = certs::Certificate::FromPem(Slurp(ServiceDir(kHosts[0]) / "tls" / "cert.pem"));
  ASSERT_TRUE(served.ok());
  EXPECT_THAT(served->dns_names(), Contains("public.example.test"));
  EXPECT_THAT(served->dns_names(), Contains(kHosts[0]));
  EXPECT_EQ(served->serial_hex(), approved.request().serial());

  // The second host's request is denied: its deploy fails with the reason.
  DeployOutcome second = Deploy(kHosts[1]);
  ASSERT_FALSE(second.ok) << second.Transcript();
  auto second_request = second.Final(topos::v1::REQUEST_CERTIFICATE);
  ASSERT_TRUE(second_request.has_value()) << second.Transcript();
  ASSERT_EQ(second_request->state(), topos::v1::STEP_PENDING);
  topos::v1::DecideCertificateRequestRequest deny;
  deny.set_id(second_request->result().certificate_request_id());
  deny.set_approve(false);
  deny.set_reason("public names need a change ticket");
  topos::v1::DecideCertificateResponse denied;
  {
    auto context = Context();
    ASSERT_TRUE(AdminStub()->DecideCertificateRequest(context.get(), deny, &denied).ok());
  }
  EXPECT_EQ(denied.request().state(), topos::v1::CERTIFICATE_DENIED);
  DeployOutcome refused = Deploy(kHosts[1]);
  EXPECT_TRUE(refused.done);
  EXPECT_FALSE(refused.ok);
  EXPECT_THAT(refused.message, HasSubstr("did not succeed"));
  auto refused_request = refused.Final(topos::v1::REQUEST_CERTIFICATE);
  ASSERT_TRUE(refused_request.has_value()) << refused.Transcript();
  EXPECT_EQ(refused_request->state(), topos::v1::STEP_FAILED);
  EXPECT_THAT(refused_request->result().error(), HasSubstr("was denied: public names need a change ticket"));
  EXPECT_FALSE(refused.Final(topos::v1::START_SERVICE).has_value());

  {
    auto context = Context();
    listed.Clear();
    ASSERT_TRUE(AdminStub()->ListCertificateRequests(context.get(), list, &listed).ok());
  }
  EXPECT_EQ(listed.requests_size(), 0);
}

TEST_F(DeployTest, ArtifactThatEscapesItsDirectoryFailsInstallAndThePreviousVersionKeepsRunning) {
  ASSERT_NO_FATAL_FAILURE(BringUp(1));
  ASSERT_NO_FATAL_FAILURE(PushRealArtifact());
  ASSERT_EQ(Publish({}), 1u);
  const int pid = DeployV1();
  ASSERT_GT(pid, 0);

  ASSERT_NO_FATAL_FAILURE(PushMade("6.0.9320", {{"bin/topos-pchat", "#!/bin/sh\n", 0755},
                                                {"../evil", "gotcha\n", 0644}}));
  PchatService v2;
  v2.version = "6.0.9320";
  v2.artifact = "topos-pchat-6.0.9320.tar.gz";
  ASSERT_EQ(Publish(v2), 2u);
  DeployOutcome outcome = Deploy(kHosts[0]);
  EXPECT_TRUE(outcome.done);
  EXPECT_FALSE(outcome.ok);
  EXPECT_THAT(outcome.message, HasSubstr("install_service topos-pchat"));
  auto install = outcome.Final(topos::v1::INSTALL_SERVICE);
  ASSERT_TRUE(install.has_value()) << outcome.Transcript();
  EXPECT_EQ(install->state(), topos::v1::STEP_FAILED);
  EXPECT_THAT(install->result().error(), HasSubstr("../evil"));
  EXPECT_FALSE(fs::exists(ServiceDir(kHosts[0]) / "versions" / "evil"));
  EXPECT_FALSE(fs::exists(ServiceDir(kHosts[0]) / "versions" / "6.0.9320"));
  EXPECT_EQ(fs::read_symlink(ServiceDir(kHosts[0]) / "current"), fs::path("versions") / kV1);
  ExpectV1Serving(pid);
}

TEST_F(DeployTest, FailingInstallHookFailsInstallAndThePreviousVersionKeepsRunning) {
  ASSERT_NO_FATAL_FAILURE(BringUp(1));
  ASSERT_NO_FATAL_FAILURE(PushRealArtifact());
  ASSERT_EQ(Publish({}), 1u);
  const int pid = DeployV1();
  ASSERT_GT(pid, 0);

  ASSERT_NO_FATAL_FAILURE(PushMade("6.0.9321"));
  PchatService v2;
  v2.version = "6.0.9321";
  v2.artifact = "topos-pchat-6.0.9321.tar.gz";
  v2.install_hook = {"sh", "-c", "echo hook says no >&2; exit 3"};
  ASSERT_EQ(Publish(v2), 2u);
  DeployOutcome outcome = Deploy(kHosts[0]);
  EXPECT_FALSE(outcome.ok);
  auto install = outcome.Final(topos::v1::INSTALL_SERVICE);
  ASSERT_TRUE(install.has_value()) << outcome.Transcript();
  EXPECT_EQ(install->state(), topos::v1::STEP_FAILED);
  EXPECT_THAT(install->result().error(), HasSubstr("exited with status 3"));
  EXPECT_THAT(install->result().error(), HasSubstr("hook says no"));
  EXPECT_FALSE(fs::exists(ServiceDir(kHosts[0]) / "versions" / "6.0.9321"));
  ExpectV1Serving(pid);
}

// A new version whose health check never passes: the agent stops it and
// starts the previous version again (the port is the same, so the old
// process had to stop for the new one to start: it runs again under a new
// pid). The operator sees why, and the host keeps serving the old version.
TEST_F(DeployTest, UnhealthyNewVersionFailsStartAndThePreviousVersionRunsAgain) {
  ASSERT_NO_FATAL_FAILURE(BringUp(1));
  ASSERT_NO_FATAL_FAILURE(PushRealArtifact());
  ASSERT_EQ(Publish({}), 1u);
  const int pid = DeployV1();
  ASSERT_GT(pid, 0);

  ASSERT_NO_FATAL_FAILURE(
      PushMade("6.0.9322", {{"bin/topos-pchat", "#!/bin/sh\necho never listening\nexec sleep 60\n", 0755}}));
  PchatService v2;
  v2.version = "6.0.9322";
  v2.artifact = "topos-pchat-6.0.9322.tar.gz";
  v2.health_timeout_seconds = 2;
  ASSERT_EQ(Publish(v2), 2u);
  DeployOutcome outcome = Deploy(kHosts[0]);
  EXPECT_FALSE(outcome.ok);
  EXPECT_THAT(outcome.message, HasSubstr("start_service topos-pchat did not succeed"));
  auto start = outcome.Final(topos::v1::START_SERVICE);
  ASSERT_TRUE(start.has_value()) << outcome.Transcript();
  EXPECT_EQ(start->state(), topos::v1::STEP_FAILED);
  EXPECT_THAT(start->result().error(), HasSubstr("health check"));
  EXPECT_THAT(start->result().error(), HasSubstr("never listening"));
  EXPECT_THAT(start->result().error(),
              HasSubstr(std::string("rolled back to ") + kV1 + ", which is running again"));
  ExpectV1Serving(0);
  EXPECT_EQ(fs::read_symlink(ServiceDir(kHosts[0]) / "current"), fs::path("versions") / kV1);
}

TEST_F(DeployTest, DeployRefusesUnknownOfflineAndArtifactlessHostsAndDryRunChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(BringUp(1));
  {
    DeployOutcome none = Deploy(kHosts[0]);
    EXPECT_EQ(none.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(none.status.error_message(), HasSubstr("toposctl topology publish"));
  }
  ASSERT_EQ(Publish({}), 1u);

  DeployOutcome unknown = Deploy("nosuch.contoso.test");
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::NOT_FOUND) << unknown.Transcript();
  EXPECT_THAT(unknown.status.error_message(), HasSubstr("nosuch.contoso.test"));
  EXPECT_TRUE(unknown.events.empty());

  DeployOutcome no_artifact = Deploy(kHosts[0]);
  EXPECT_THAT(no_artifact.status.error_code(),
              ::testing::AnyOf(grpc::StatusCode::FAILED_PRECONDITION, grpc::StatusCode::NOT_FOUND));
  EXPECT_THAT(no_artifact.status.error_message(), HasSubstr("toposctl artifact push"));
  EXPECT_THAT(no_artifact.status.error_message(), HasSubstr(kV1));
  EXPECT_TRUE(no_artifact.events.empty());

  ASSERT_NO_FATAL_FAILURE(PushRealArtifact());
  DeployOutcome offline = Deploy(kHosts[1]);  // in the topology, agent never started
  EXPECT_EQ(offline.status.error_code(), grpc::StatusCode::UNAVAILABLE) << offline.Transcript();
  EXPECT_THAT(offline.status.error_message(), HasSubstr("start its agent"));
  EXPECT_THAT(offline.status.error_message(), HasSubstr(kHosts[1]));

  DeployOutcome dry = Deploy(kHosts[0], /*dry_run=*/true);
  ASSERT_TRUE(dry.status.ok()) << dry.Transcript();
  EXPECT_TRUE(dry.done && dry.ok);
  EXPECT_THAT(dry.message, HasSubstr("dry run: 6 steps would run on " + kHosts[0]));
  EXPECT_EQ(KindsOf(dry.Steps()), kPlan);
  EXPECT_TRUE(dry.Finals().empty()) << "a dry run runs nothing";
  ASSERT_TRUE(nodes_[kHosts[0]]->steps().WaitIdle(std::chrono::seconds(5)));
  EXPECT_FALSE(fs::exists(ServiceDir(kHosts[0])));
  EXPECT_TRUE(ReadJournal(StateDirOf(kHosts[0])).empty());
  EXPECT_TRUE(GetHost(kHosts[0]).services().empty());
}

}  // namespace
}  // namespace topos::testing
