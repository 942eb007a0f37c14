// TrustPublisher: who gets which TrustUpdate, and when a host counts as
// holding the current bundle (what a CA rotation waits for).
#include "controller/hub/trust_publisher.h"

#include <gtest/gtest.h>

#include <vector>

#include "controller/store/sqlite_store.h"
#include "tests/support/temp_dir.h"

namespace topos::controller {
namespace {

class RecordingConnection : public AgentConnection {
 public:
  void Close(const std::string&, std::uint32_t) override {}
  void Send(topos::v1::ControllerMessage message) override { sent.push_back(std::move(message)); }
  std::vector<topos::v1::ControllerMessage> sent;
};

topos::v1::TrustApplied Applied(const std::string& generation, bool ok = true) {
  topos::v1::TrustApplied applied;
  applied.set_generation(generation);
  applied.set_ok(ok);
  if (!ok) applied.set_error("disk full");
  return applied;
}

class TrustPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(*SqliteStore::Open(dir_.path() / "topos.db"));
    reports_ = std::make_unique<ReportWriter>(*store_, std::chrono::milliseconds(1000));
    hub_ = std::make_unique<AgentHub>(*reports_);
    trust_ = std::make_unique<TrustPublisher>(*hub_);
  }
  void Connect(const std::string& fqdn, RecordingConnection& connection) {
    ASSERT_TRUE(hub_->Attach(fqdn, &connection, std::chrono::system_clock::now()).ok());
  }

  test_support::TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<ReportWriter> reports_;
  std::unique_ptr<AgentHub> hub_;
  std::unique_ptr<TrustPublisher> trust_;
};

TEST_F(TrustPublisherTest, GenerationIsTheHashOfBundleAndCrl) {
  trust_->PublishBundle("BUNDLE");
  trust_->PublishCrl("CRL");
  EXPECT_EQ(trust_->generation(), TrustGeneration("BUNDLE", "CRL"));
  EXPECT_EQ(trust_->generation().size(), 64u);
  EXPECT_NE(TrustGeneration("BUNDLE", "CRL"), TrustGeneration("BUNDLE", "CRL2"));
}

TEST_F(TrustPublisherTest, HelloWithAnotherGenerationGetsTheCurrentOneAndNoOtherHostDoes) {
  trust_->PublishBundle("A");
  RecordingConnection behind, current;
  Connect("behind.test", behind);
  Connect("current.test", current);
  trust_->OnHello("behind.test", "stale");
  trust_->OnHello("current.test", trust_->generation());
  ASSERT_EQ(behind.sent.size(), 1u);
  EXPECT_EQ(behind.sent[0].trust_update().ca_bundle_pem(), "A");
  EXPECT_EQ(behind.sent[0].trust_update().generation(), trust_->generation());
  EXPECT_TRUE(current.sent.empty());
}

TEST_F(TrustPublisherTest, ANewBundleIsPushedToEveryConnectedHostNotHoldingIt) {
  trust_->PublishBundle("A");
  RecordingConnection one, two;
  Connect("one.test", one);
  Connect("two.test", two);
  trust_->OnHello("one.test", trust_->generation());
  trust_->OnHello("two.test", trust_->generation());
  trust_->PublishBundle("A+B");
  ASSERT_EQ(one.sent.size(), 1u);
  ASSERT_EQ(two.sent.size(), 1u);
  EXPECT_EQ(two.sent[0].trust_update().ca_bundle_pem(), "A+B");
  trust_->PublishBundle("A+B");  // unchanged: nothing more is sent
  EXPECT_EQ(one.sent.size(), 1u);
}

TEST_F(TrustPublisherTest, ConvergenceCountsOnlineHostsThatConfirmed) {
  trust_->PublishBundle("A");
  RecordingConnection one, two, three;
  Connect("one.test", one);
  Connect("two.test", two);
  Connect("three.test", three);
  trust_->PublishBundle("A+B");
  trust_->OnApplied("one.test", Applied(trust_->generation()));
  trust_->OnApplied("two.test", Applied(trust_->generation(), /*ok=*/false));
  auto convergence = trust_->Check();
  EXPECT_EQ(convergence.online, 3u);
  EXPECT_EQ(convergence.confirmed, 1u);
  EXPECT_EQ(convergence.waiting, (std::vector<std::string>{"three.test", "two.test"}));

  hub_->Detach("three.test", &three, std::chrono::system_clock::now());
  trust_->OnApplied("two.test", Applied(trust_->generation()));
  convergence = trust_->Check();
  EXPECT_EQ(convergence.online, 2u);
  EXPECT_EQ(convergence.confirmed, 2u);
  EXPECT_TRUE(convergence.waiting.empty());
}

TEST_F(TrustPublisherTest, ACrlResignedMeanwhileDoesNotHoldBundleConvergenceBack) {
  trust_->PublishBundle("A+B");
  trust_->PublishCrl("crl-1");
  RecordingConnection one;
  Connect("one.test", one);
  trust_->OnApplied("one.test", Applied(trust_->generation()));
  trust_->PublishCrl("crl-2");  // the host has not applied this yet
  EXPECT_EQ(trust_->Check(/*bundle_only=*/true).confirmed, 1u);
  EXPECT_EQ(trust_->Check(/*bundle_only=*/false).confirmed, 0u);
  trust_->PublishBundle("B");  // but a new bundle does
  EXPECT_EQ(trust_->Check(/*bundle_only=*/true).confirmed, 0u);
}

}  // namespace
}  // namespace topos::controller
