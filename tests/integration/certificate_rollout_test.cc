// Certificate rollouts (`toposctl certs rollout`) end to end in one process
// over real mutual TLS: a controller and five in-process agents whose steps
// run on the swarm's NoOpStepRunner with a real controller connection, so
// request_certificate makes a key and CSR and the controller really signs.
// Pool web (web01..web04) runs "api", which has a certificate binding; pool
// db (db01) runs "sql", which has none.
#include <gmock/gmock.h>

#include <map>
#include <set>

#include "tests/bench/noop_step_runner.h"
#include "tests/integration/fleet_fixture.h"

namespace topos::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

const std::vector<std::string> kWebHosts = {"web01.cert.test", "web02.cert.test",
                                            "web03.cert.test", "web04.cert.test"};
constexpr char kDbHost[] = "db01.cert.test";

std::string TopologyYaml() {
  std::string yaml = "sites:\n  - name: lab\n\nhosts:\n";
  for (const auto& host : kWebHosts) yaml += "  - fqdn: " + host + "\n";
  yaml += "  - fqdn: " + std::string(kDbHost) + "\n";
  yaml += "\npools:\n  - name: web\n    fqdn: webpool.cert.test\n    role: web\n    site: lab\n"
          "    hosts: [";
  for (std::size_t i = 0; i < kWebHosts.size(); ++i) yaml += (i ? ", " : "") + kWebHosts[i];
  yaml += "]\n  - name: db\n    fqdn: dbpool.cert.test\n    role: db\n    site: lab\n"
          "    hosts: [" + std::string(kDbHost) + "]\n";
  yaml += "\nservices:\n"
          "  - name: api\n    role: web\n    version: \"1.0\"\n    artifact: api.tar.gz\n"
          "    certificate:\n      names: [api.webpool.cert.test]\n"
          "  - name: sql\n    role: db\n    version: \"1.0\"\n    artifact: sql.tar.gz\n";
  return yaml;
}

constexpr char kRolesYaml[] =
    "roles:\n  - name: web\n    description: web\n  - name: db\n    description: db\n";

std::string Transcript(const v1::GetRolloutResponse& got) {
  std::string text = "rollout " + got.rollout().id() + " " + got.rollout().state() +
                     (got.rollout().done() ? " (done)" : "") + ": " + got.rollout().stop_reason() +
                     "\n";
  for (const auto& event : got.events()) {
    text += "  " + std::to_string(event.seq()) + " " + event.kind() + " " + event.host_fqdn() +
            " " + event.message() + "\n";
  }
  return text;
}

class CertificateRolloutTest : public FleetTest {
 protected:
  void SetUp() override {
    FleetTest::SetUp();
    std::vector<std::string> hosts = kWebHosts;
    hosts.push_back(kDbHost);
    for (const auto& host : hosts) {
      ASSERT_TRUE(EnrollHost(host).ok()) << host;
      agent::StateDir dir(StateDirOf(host));
      auto stub = [dir]() -> std::unique_ptr<v1::AgentService::StubInterface> {
        auto current = dir.Load();
        if (!current.ok()) return nullptr;
        return v1::AgentService::NewStub(MakeChannel(
            current->controller, MakeMutualTlsCredentials(current->identity), true));
      };
      runners_[host] = std::make_unique<bench::NoOpStepRunner>(StateDirOf(host), stub);
      agent::LinkOptions options = FastLink();
      options.steps = runners_[host].get();
      links_[host] = StartLink(host, options);
    }
    ASSERT_TRUE(Eventually([&] { return controller_->connected_agents() == 5; }));
    stub_ = AdminStub();
    v1::PublishTopologyRequest request;
    request.set_topology_yaml(TopologyYaml());
    request.set_roles_yaml(kRolesYaml);
    request.set_source_name("certificate-rollout-test.yaml");
    v1::PublishTopologyResponse response;
    auto context = Context();
    grpc::Status status = stub_->PublishTopology(context.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    // The simulated agents read the services from their local store slice.
    ASSERT_TRUE(Eventually([&] {
      for (const auto& [host, link] : links_) {
        if (link->applied_config_version() != response.version().version()) return false;
      }
      return true;
    }));
    // Certificate rollouts renew only services a host reports installed:
    // install each host's service the way a deploy would.
    for (const auto& [host, runner] : runners_) {
      v1::RunStep install;
      install.set_step_id("setup-install-" + host);
      install.set_kind(v1::INSTALL_SERVICE);
      install.set_service(host == kDbHost ? "sql" : "api");
      runner->Submit(install);
    }
    ASSERT_TRUE(Eventually([&] {
      for (const auto& [host, runner] : runners_) {
        v1::GetHostRequest request;
        request.set_fqdn(host);
        v1::GetHostResponse response;
        auto context = Context();
        if (!stub_->GetHost(context.get(), request, &response).ok() ||
            response.host().services_size() != 1) {
          return false;
        }
      }
      return true;
    }));
  }

  void TearDown() override {
    links_.clear();  // before the runners they use
    runners_.clear();
    FleetTest::TearDown();
  }

  static v1::RolloutStrategySpec Strategy() {
    v1::RolloutStrategySpec spec;
    spec.set_max_unavailable("2");
    spec.set_step_timeout_seconds(30);
    return spec;
  }

  grpc::Status StartCertificates(const v1::StartCertificateRolloutRequest& request,
                                 v1::StartRolloutResponse* response) {
    auto context = Context();
    return stub_->StartCertificateRollout(context.get(), request, response);
  }

  static v1::StartCertificateRolloutRequest All(bool reissue) {
    v1::StartCertificateRolloutRequest request;
    *request.mutable_strategy() = Strategy();
    request.set_all(true);
    request.set_reissue(reissue);
    return request;
  }

  // Starts a rollout that must be accepted; returns its id.
  std::string Start(const v1::StartCertificateRolloutRequest& request) {
    v1::StartRolloutResponse response;
    grpc::Status status = StartCertificates(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.rollout().id();
  }

  v1::GetRolloutResponse Get(const std::string& id, bool with_events = true) {
    v1::GetRolloutRequest request;
    request.set_id(id);
    request.set_with_events(with_events);
    v1::GetRolloutResponse response;
    auto context = Context();
    grpc::Status status = stub_->GetRollout(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  v1::GetRolloutResponse WaitDone(const std::string& id) {
    bool done = Eventually([&] { return Get(id, false).rollout().done(); }, std::chrono::seconds(30));
    auto got = Get(id);
    EXPECT_TRUE(done) << "rollout never finished\n" << Transcript(got);
    return got;
  }

  grpc::Status Control(const std::string& id, v1::RolloutAction action, v1::Rollout* rollout) {
    v1::ControlRolloutRequest request;
    request.set_id(id);
    request.set_action(action);
    v1::ControlRolloutResponse response;
    auto context = Context();
    grpc::Status status = stub_->ControlRollout(context.get(), request, &response);
    *rollout = response.rollout();
    return status;
  }

  // The serial each web host's "api" has assigned now.
  std::map<std::string, std::string> Serials() {
    std::map<std::string, std::string> serials;
    for (const auto& host : kWebHosts) serials[host] = runners_[host]->CertificateSerial("api");
    return serials;
  }

  // Serials of the issued (not revoked, not expired) "api" certificates the
  // controller's inventory lists for `host`.
  std::set<std::string> IssuedSerials(const std::string& host) {
    v1::ListCertificatesRequest request;
    request.set_host_fqdn(host);
    v1::ListCertificatesResponse response;
    auto context = Context();
    grpc::Status status = stub_->ListCertificates(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::set<std::string> serials;
    for (const auto& item : response.certificates()) {
      if (item.purpose() == "service api" && item.state() == "issued") serials.insert(item.serial());
    }
    return serials;
  }

  std::map<std::string, std::unique_ptr<bench::NoOpStepRunner>> runners_;
  std::map<std::string, std::unique_ptr<agent::ControllerLink>> links_;
  std::unique_ptr<v1::AdminService::Stub> stub_;
};

TEST_F(CertificateRolloutTest, AllReissueGivesEveryServiceANewCertificateFromTheController) {
  // First renewal: no host has a certificate yet, so every one is issued.
  v1::StartRolloutResponse first;
  ASSERT_TRUE(StartCertificates(All(false), &first).ok());
  EXPECT_EQ(first.rollout().kind(), v1::ROLLOUT_CERTIFICATES);
  EXPECT_THAT(first.converged(),
              UnorderedElementsAre("db01.cert.test: runs no installed service with a certificate binding"));
  auto got = WaitDone(first.rollout().id());
  ASSERT_EQ(got.rollout().state(), "succeeded") << Transcript(got);
  auto before = Serials();
  for (const auto& [host, serial] : before) {
    ASSERT_FALSE(serial.empty()) << host;
    EXPECT_THAT(IssuedSerials(host), ::testing::Contains(serial)) << host;
  }

  // Without --reissue, certificates still good are kept.
  got = WaitDone(Start(All(false)));
  ASSERT_EQ(got.rollout().state(), "succeeded") << Transcript(got);
  EXPECT_EQ(Serials(), before);

  // --reissue: every host's certificate is replaced by one the controller signed.
  v1::StartRolloutResponse reissue;
  ASSERT_TRUE(StartCertificates(All(true), &reissue).ok());
  EXPECT_TRUE(reissue.rollout().reissue());
  got = WaitDone(reissue.rollout().id());
  ASSERT_EQ(got.rollout().state(), "succeeded") << Transcript(got);
  EXPECT_EQ(got.rollout().stop_reason(), "4 hosts deployed");
  auto after = Serials();
  for (const auto& host : kWebHosts) {
    EXPECT_FALSE(after[host].empty()) << host;
    EXPECT_NE(after[host], before[host]) << host;
    EXPECT_THAT(IssuedSerials(host), ::testing::Contains(after[host])) << host;
  }
  // Each host ran request then assign for "api", and the db host none.
  int requests = 0, assigns = 0;
  for (const auto& event : got.events()) {
    if (event.kind() != "step-succeeded") continue;
    EXPECT_NE(event.host_fqdn(), kDbHost);
    requests += event.step_kind() == v1::REQUEST_CERTIFICATE;
    assigns += event.step_kind() == v1::ASSIGN_CERTIFICATE;
  }
  EXPECT_EQ(requests, 4) << Transcript(got);
  EXPECT_EQ(assigns, 4) << Transcript(got);
}

TEST_F(CertificateRolloutTest, EffectiveAtStartsNoHostBeforeItsTime) {
  const auto now = std::chrono::system_clock::now();
  const std::int64_t at =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() + 2;
  auto request = All(true);
  request.set_effective_at_unix(at);
  v1::StartRolloutResponse response;
  ASSERT_TRUE(StartCertificates(request, &response).ok());
  EXPECT_EQ(response.rollout().state(), "scheduled");
  EXPECT_EQ(response.rollout().effective_at_unix_ms(), at * 1000);
  const std::string id = response.rollout().id();
  auto early = Get(id);
  if (std::chrono::system_clock::now() < std::chrono::system_clock::time_point(std::chrono::seconds(at))) {
    EXPECT_EQ(early.rollout().state(), "scheduled") << Transcript(early);
  }

  auto got = WaitDone(id);
  ASSERT_EQ(got.rollout().state(), "succeeded") << Transcript(got);
  int started = 0;
  for (const auto& event : got.events()) {
    if (event.kind() != "host-started") continue;
    ++started;
    EXPECT_GE(event.at_unix_ms(), at * 1000) << Transcript(got);
  }
  EXPECT_EQ(started, 4);
  for (const auto& host : kWebHosts) EXPECT_FALSE(runners_[host]->CertificateSerial("api").empty());
}

TEST_F(CertificateRolloutTest, AScheduledRolloutHoldsItsHostsAndCanBePausedAndAborted) {
  auto request = All(true);
  request.set_effective_at_unix(
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch()).count() + 3600);
  const std::string id = Start(request);

  // Its hosts are busy: another certificate rollout is refused, naming them.
  v1::StartCertificateRolloutRequest one;
  *one.mutable_strategy() = Strategy();
  one.add_hosts("web03.cert.test");
  v1::StartRolloutResponse refused;
  grpc::Status busy = StartCertificates(one, &refused);
  EXPECT_EQ(busy.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(busy.error_message(), HasSubstr("web03.cert.test"));
  EXPECT_THAT(busy.error_message(), HasSubstr(id));

  v1::Rollout rollout;
  ASSERT_TRUE(Control(id, v1::ROLLOUT_PAUSE, &rollout).ok());
  EXPECT_EQ(rollout.state(), "paused");
  ASSERT_TRUE(Control(id, v1::ROLLOUT_RESUME, &rollout).ok());
  EXPECT_EQ(rollout.state(), "scheduled");
  ASSERT_TRUE(Control(id, v1::ROLLOUT_ABORT, &rollout).ok());
  EXPECT_EQ(rollout.state(), "aborted");
  auto got = WaitDone(id);
  EXPECT_EQ(got.rollout().state(), "aborted");
  for (const auto& event : got.events()) EXPECT_NE(event.kind(), "host-started") << Transcript(got);
  for (const auto& host : kWebHosts) EXPECT_EQ(runners_[host]->CertificateSerial("api"), "");

  // Its hosts are free again.
  EXPECT_EQ(WaitDone(Start(one)).rollout().state(), "succeeded");
}

TEST_F(CertificateRolloutTest, AScheduledRolloutSurvivesAControllerRestart) {
  const std::int64_t at = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count() + 3;
  auto request = All(false);
  request.set_effective_at_unix(at);
  const std::string id = Start(request);
  StopController();
  StartController();
  stub_ = AdminStub();
  auto got = WaitDone(id);
  ASSERT_EQ(got.rollout().state(), "succeeded") << Transcript(got);
  for (const auto& event : got.events()) {
    if (event.kind() == "host-started") {
      EXPECT_GE(event.at_unix_ms(), at * 1000);
    }
  }
  for (const auto& host : kWebHosts) EXPECT_FALSE(runners_[host]->CertificateSerial("api").empty());
}

TEST_F(CertificateRolloutTest, BadSelectionsAndTimesAreRefused) {
  auto refuse = [&](v1::StartCertificateRolloutRequest request, grpc::StatusCode code,
                    const std::string& text) {
    *request.mutable_strategy() = Strategy();
    v1::StartRolloutResponse response;
    grpc::Status status = StartCertificates(request, &response);
    EXPECT_EQ(status.error_code(), code) << text << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(text));
  };
  v1::StartCertificateRolloutRequest request;
  request.add_pools("chat");
  refuse(request, grpc::StatusCode::INVALID_ARGUMENT, "--pool chat: topology version");
  request.Clear();
  request.add_hosts("nowhere.cert.test");
  refuse(request, grpc::StatusCode::INVALID_ARGUMENT, "--host nowhere.cert.test: no pool");
  request.Clear();
  refuse(request, grpc::StatusCode::INVALID_ARGUMENT, "exactly one of --pool");
  request.add_pools("db");
  refuse(request, grpc::StatusCode::FAILED_PRECONDITION, "no certificate to renew");
  request = All(true);
  request.set_effective_at_unix(std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::system_clock::now().time_since_epoch()).count() -
                                3600);
  refuse(request, grpc::StatusCode::INVALID_ARGUMENT, "is in the past");
  request.set_effective_at_unix(request.effective_at_unix() + 3600 + 31 * 86400);
  refuse(request, grpc::StatusCode::INVALID_ARGUMENT, "more than 30 days ahead");

  // A certificate rollout cannot be rolled back.
  const std::string id = Start(All(false));
  WaitDone(id);
  v1::RollbackRolloutRequest rollback;
  rollback.set_id(id);
  v1::StartRolloutResponse response;
  auto context = Context();
  grpc::Status status = stub_->RollbackRollout(context.get(), rollback, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("renewed certificates, which cannot be rolled back"));
}

}  // namespace
}  // namespace topos::testing
