// A controller and three agents: enroll, connect, heartbeat, show online;
// one stops and turns offline; the controller restarts and all reconnect.
#include <sys/stat.h>

#include <thread>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>

#include "tests/integration/fleet_fixture.h"
#include "topos/v1/agent.grpc.pb.h"

namespace topos::testing {
namespace {

const std::vector<std::string> kHosts = {"chat01.contoso.test", "chat02.contoso.test",
                                         "fe01.contoso.test"};

TEST_F(FleetTest, ThreeAgentsEnrollConnectAndShowOnline) {
  std::vector<std::unique_ptr<agent::ControllerLink>> links;
  for (const auto& host : kHosts) {
    Status enrolled = EnrollHost(host);
    ASSERT_TRUE(enrolled.ok()) << enrolled.message();
    links.push_back(StartLink(host));
  }
  ASSERT_TRUE(Eventually([&] {
    for (const auto& host : kHosts) {
      if (StatusOf(host) != "online") return false;
    }
    return true;
  }));
  EXPECT_EQ(controller_->connected_agents(), 3u);

  // Facts from Hello and heartbeats reach the inventory.
  ASSERT_TRUE(Eventually([&] {
    auto hosts = ListHosts();
    for (const auto& info : hosts.hosts()) {
      if (info.agent_version().empty() || info.facts().cpus() == 0 || info.last_seen_unix() == 0)
        return false;
    }
    return true;
  }));
  auto hosts = ListHosts();
  ASSERT_EQ(hosts.hosts_size(), 3);
  for (const auto& info : hosts.hosts()) {
    EXPECT_FALSE(info.facts().kernel().empty());
    EXPECT_GT(info.certificate_not_after_unix(), 0);
  }
}

// Certificate steps call the controller over the link's own connection
// (no handshake of their own); the link lends it only while connected.
TEST_F(FleetTest, ALinkLendsItsConnectionOnlyWhileConnected) {
  ASSERT_TRUE(EnrollHost(kHosts[0]).ok());
  auto link = StartLink(kHosts[0]);
  ASSERT_TRUE(Eventually([&] { return link->connected(); }));
  std::shared_ptr<grpc::Channel> channel = link->channel();
  ASSERT_NE(channel, nullptr);

  // The controller answers it as this agent's call: the request is judged,
  // not refused for want of an identity.
  auto stub = v1::AgentService::NewStub(channel);
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::CertificateRequest request;
  request.set_service("web");
  v1::CertificateReply reply;
  grpc::Status status = stub->RequestCertificate(&call, request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("csr_pem is missing"));

  link->Stop();
  EXPECT_TRUE(link->Wait().ok());
  EXPECT_EQ(link->channel(), nullptr);
}

TEST_F(FleetTest, StoppedAgentTurnsOfflineOthersStayOnline) {
  std::vector<std::unique_ptr<agent::ControllerLink>> links;
  for (const auto& host : kHosts) {
    ASSERT_TRUE(EnrollHost(host).ok());
    links.push_back(StartLink(host));
  }
  ASSERT_TRUE(Eventually([&] { return controller_->connected_agents() == 3; }));
  links[1]->Stop();
  EXPECT_TRUE(links[1]->Wait().ok());
  ASSERT_TRUE(Eventually([&] { return StatusOf(kHosts[1]) == "offline"; }));
  EXPECT_EQ(StatusOf(kHosts[0]), "online");
  EXPECT_EQ(StatusOf(kHosts[2]), "online");
}

TEST_F(FleetTest, AgentsReconnectAfterControllerRestart) {
  std::vector<std::unique_ptr<agent::ControllerLink>> links;
  for (const auto& host : kHosts) {
    ASSERT_TRUE(EnrollHost(host).ok());
    links.push_back(StartLink(host));
  }
  ASSERT_TRUE(Eventually([&] { return controller_->connected_agents() == 3; }));
  ASSERT_TRUE(Eventually([&] {
    for (const auto& link : links) {
      if (link->trust_updates_applied() == 0) return false;
    }
    return true;
  }));
  std::vector<int> trust_updates;
  for (const auto& link : links) trust_updates.push_back(link->trust_updates_applied());
  StopController();
  ASSERT_TRUE(Eventually([&] {
    for (const auto& link : links) {
      if (link->connected()) return false;
    }
    return true;
  }));
  StartController();
  ASSERT_TRUE(Eventually([&] { return controller_->connected_agents() == 3; },
                         std::chrono::seconds(30)));
  EXPECT_TRUE(Eventually([&] {
    for (const auto& link : links) {
      if (link->sessions() < 2 || !link->connected()) return false;
    }
    return true;
  }));
  for (const auto& host : kHosts) EXPECT_EQ(StatusOf(host), "online");
  // Nothing was revoked: the restarted controller serves the same CRL, so
  // no agent had to rewrite its trust files.
  for (std::size_t i = 0; i < links.size(); ++i) {
    EXPECT_EQ(links[i]->trust_updates_applied(), trust_updates[i]) << kHosts[i];
  }
}

TEST_F(FleetTest, AfterALongOutageAgentsReturnWithinTheWindowTheControllerNamed) {
  // Ten agents at 10 handshakes/s: the controller's goodbye names a 1 s
  // window. Down for 6 s, plain exponential back-off would have them
  // waiting up to 4-8 s more after it is back; the window bounds the wait.
  reconnect_rate_ = 10;
  StopController();
  StartController();
  std::vector<std::unique_ptr<agent::ControllerLink>> links;
  for (int i = 0; i < 10; ++i) {
    std::string host = "spread-" + std::to_string(i) + ".fleet.test";
    ASSERT_TRUE(EnrollHost(host).ok());
    links.push_back(StartLink(host));
  }
  ASSERT_TRUE(Eventually([&] { return controller_->connected_agents() == 10; }));
  StopController();
  std::this_thread::sleep_for(std::chrono::seconds(6));  // the outage itself
  auto restarted = std::chrono::steady_clock::now();
  StartController();
  ASSERT_TRUE(Eventually([&] { return controller_->connected_agents() == 10; },
                         std::chrono::seconds(30)));
  auto back_after = std::chrono::steady_clock::now() - restarted;
  // The window (1 s) plus time for ten handshakes on a loaded test machine.
  EXPECT_LT(back_after, std::chrono::seconds(3))
      << std::chrono::duration_cast<std::chrono::milliseconds>(back_after).count() << " ms";
}

TEST_F(FleetTest, EnrolledKeyStaysOnHostWithMode0600) {
  ASSERT_TRUE(EnrollHost(kHosts[0]).ok());
  struct stat st {};
  ASSERT_EQ(::stat((StateDirOf(kHosts[0]) / "identity" / "key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(StateDirOf(kHosts[0]).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(FleetTest, AgentRenewsItsCertificateAndReconnectsWithIt) {
  ASSERT_TRUE(EnrollHost(kHosts[0]).ok());
  auto before = ListHosts().hosts(0).certificate_serial();
  agent::LinkOptions options = FastLink();
  options.renew_at_fraction = 0.0;  // due at once
  auto link = StartLink(kHosts[0], options);
  ASSERT_TRUE(Eventually([&] { return link->renewals() >= 1 && link->sessions() >= 2; }));
  ASSERT_TRUE(Eventually([&] { return StatusOf(kHosts[0]) == "online"; }));
  EXPECT_NE(ListHosts().hosts(0).certificate_serial(), before);
}

}  // namespace
}  // namespace topos::testing
