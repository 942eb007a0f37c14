// What the hub tells agents when it ends their streams: a final goodbye for
// a host that must not come back, and on shutdown a return window sized so
// the fleet comes back at the rate the controller can take.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "controller/hub/agent_hub.h"
#include "controller/store/sqlite_store.h"
#include "tests/support/temp_dir.h"

namespace topos::controller {
namespace {

struct Goodbye {
  std::string reason;
  std::uint32_t retry_after_seconds = 0;
};

class ClosingConnection : public AgentConnection {
 public:
  void Close(const std::string& reason, std::uint32_t retry_after_seconds) override {
    goodbyes.push_back({reason, retry_after_seconds});
  }
  void Send(topos::v1::ControllerMessage) override {}
  std::vector<Goodbye> goodbyes;
};

TEST(ReturnWindow, IsTheAgentsOverTheRateRoundedUp) {
  EXPECT_EQ(ReturnWindow(10'000, 200), 50u);
  EXPECT_EQ(ReturnWindow(2'001, 200), 11u);
  EXPECT_EQ(ReturnWindow(2'000, 200), 10u);
}

TEST(ReturnWindow, IsNeverZeroBecauseZeroMeansDoNotRetry) {
  EXPECT_EQ(ReturnWindow(0, 200), 1u);
  EXPECT_EQ(ReturnWindow(1, 200), 1u);
  EXPECT_EQ(ReturnWindow(5, 0), 5u);  // a rate of 0 counts as 1
}

TEST(ReturnWindow, IsCappedAtTenMinutes) {
  EXPECT_EQ(ReturnWindow(1'000'000, 1), 600u);
}

class AgentHubGoodbyeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(*SqliteStore::Open(dir_.path() / "topos.db"));
    reports_ = std::make_unique<ReportWriter>(*store_, std::chrono::milliseconds(1000));
    hub_ = std::make_unique<AgentHub>(*reports_);
    for (int i = 0; i < 5; ++i) {
      std::string fqdn = "host-" + std::to_string(i) + ".test";
      ASSERT_TRUE(hub_->Attach(fqdn, &connections_[i], std::chrono::system_clock::now()).ok());
    }
  }

  test_support::TempDir dir_;
  ClosingConnection connections_[5];  // outlive the hub that points at them
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<ReportWriter> reports_;
  std::unique_ptr<AgentHub> hub_;
};

TEST_F(AgentHubGoodbyeTest, ShutdownTellsEveryAgentTheSameReturnWindow) {
  hub_->DisconnectAll("controller shutting down", 2);  // 5 agents at 2/s: 3 s
  for (const auto& connection : connections_) {
    ASSERT_EQ(connection.goodbyes.size(), 1u);
    EXPECT_EQ(connection.goodbyes[0].reason, "controller shutting down");
    EXPECT_EQ(connection.goodbyes[0].retry_after_seconds, 3u);
  }
}

TEST_F(AgentHubGoodbyeTest, RefusedHostIsToldNotToComeBackAndOthersAreLeftAlone) {
  hub_->Disconnect("host-2.test", "certificate revoked", false);
  ASSERT_EQ(connections_[2].goodbyes.size(), 1u);
  EXPECT_EQ(connections_[2].goodbyes[0].retry_after_seconds, 0u);
  EXPECT_TRUE(connections_[1].goodbyes.empty());
  hub_->Disconnect("host-1.test", "stream replaced", true);
  ASSERT_EQ(connections_[1].goodbyes.size(), 1u);
  EXPECT_GT(connections_[1].goodbyes[0].retry_after_seconds, 0u);
}

}  // namespace
}  // namespace topos::controller
