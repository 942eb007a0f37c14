// check_prerequisites and setup_local_store: steps about the host rather
// than one service's files.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/agent/steps/steps_fixture.h"

namespace topos::agent::steps_test {
namespace {

// Listens on an ephemeral TCP port on all addresses until destroyed.
class HeldPort {
 public:
  HeldPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = 0;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd_, 1) != 0) {
      return;
    }
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~HeldPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

using PrerequisitesStep = StepsTest;

TEST_F(PrerequisitesStep, ListsEachUnmetRequirement) {
  HeldPort held;
  ASSERT_GT(held.port(), 0);
  auto manifest = Manifest("web", "1.0");
  manifest.mutable_prerequisites()->add_ports(static_cast<std::uint32_t>(held.port()));
  manifest.mutable_prerequisites()->add_executables("topos-no-such-program");
  manifest.mutable_prerequisites()->add_executables("sh");
  Publish({manifest});

  auto failed = Run(CheckPrerequisitesStep, Step("prereq-1", topos::v1::CHECK_PREREQUISITES, "web"));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Status::Code::kFailedPrecondition);
  const std::string& message = failed.status().message();
  EXPECT_THAT(message, HasSubstr("2 prerequisite(s) not met"));
  EXPECT_THAT(message, HasSubstr("ports: " + std::to_string(held.port()) + " is in use"));
  EXPECT_THAT(message, HasSubstr("executables: \"topos-no-such-program\" not found on PATH"));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("\"sh\"")));
}

TEST_F(PrerequisitesStep, SucceedsWhenAllAreMet) {
  auto manifest = Manifest("web", "1.0");
  manifest.mutable_prerequisites()->add_executables("sh");
  manifest.mutable_prerequisites()->set_min_cpus(1);
  {
    HeldPort probe;  // a port that was free a moment ago
    ASSERT_GT(probe.port(), 0);
    manifest.mutable_prerequisites()->add_ports(static_cast<std::uint32_t>(probe.port()));
  }
  Publish({manifest});

  UpdateLog log;
  StepExecutor executor(context_);
  executor.SetSink(log.Sink());
  executor.Start();
  executor.Submit(Step("prereq-ok", topos::v1::CHECK_PREREQUISITES, "web"));
  ASSERT_TRUE(executor.WaitIdle(10s));
  auto finals = log.Finals("prereq-ok");
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_EQ(finals[0].state(), topos::v1::STEP_SUCCEEDED) << finals[0].result().error();
  EXPECT_EQ(finals[0].result().summary(), "all prerequisites of web met");
  EXPECT_EQ(finals[0].result().problems_size(), 0);
}

// The FAILED update carries each unmet requirement as its own entry, not
// only joined into the error text.
TEST_F(PrerequisitesStep, FailedUpdateCarriesEachProblem) {
  auto manifest = Manifest("web", "1.0");
  manifest.mutable_prerequisites()->add_executables("topos-no-such-program");
  manifest.mutable_prerequisites()->add_executables("topos-no-such-program-either");
  Publish({manifest});
  UpdateLog log;
  StepExecutor executor(context_);
  executor.SetSink(log.Sink());
  executor.Start();
  executor.Submit(Step("prereq-bad", topos::v1::CHECK_PREREQUISITES, "web"));
  ASSERT_TRUE(executor.WaitIdle(10s));
  auto finals = log.Finals("prereq-bad");
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_EQ(finals[0].state(), topos::v1::STEP_FAILED);
  EXPECT_THAT(finals[0].result().error(), HasSubstr("2 prerequisite(s) not met"));
  EXPECT_EQ(finals[0].result().problems_size(), 2);
}

TEST_F(PrerequisitesStep, WithoutAConfigurationFailsSayingWhatIsMissing) {
  auto failed = Run(CheckPrerequisitesStep, Step("prereq-1", topos::v1::CHECK_PREREQUISITES, "web"));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(failed.status().message(), HasSubstr("holds no configuration yet"));
}

using SetupLocalStore = StepsTest;

TEST_F(SetupLocalStore, SucceedsWhenTheStoreIsAlreadyAtTheVersion) {
  applied_ = 5;
  auto step = Step("store-3", topos::v1::SETUP_LOCAL_STORE, "");
  step.set_config_version(3);
  auto done = Run(agent::SetupLocalStoreStep, step);
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_FALSE(done->changed());
  EXPECT_EQ(done->summary(), "local store at version 5");
}

TEST_F(SetupLocalStore, WaitsForTheVersionToBeApplied) {
  applied_ = 2;
  auto step = Step("store-4", topos::v1::SETUP_LOCAL_STORE, "");
  step.set_config_version(4);
  std::thread link([this] {
    std::this_thread::sleep_for(200ms);  // the link applies the new slice meanwhile
    applied_ = 4;
  });
  auto done = Run(agent::SetupLocalStoreStep, step, 10s);
  link.join();
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_TRUE(done->changed());
  EXPECT_EQ(done->summary(), "local store at version 4");
}

TEST_F(SetupLocalStore, TimesOutNamingBothVersions) {
  applied_ = 5;
  auto step = Step("store-7", topos::v1::SETUP_LOCAL_STORE, "");
  step.set_config_version(7);
  step.set_deadline_seconds(1);
  UpdateLog log;
  StepExecutor executor(context_);
  executor.SetSink(log.Sink());
  executor.Start();
  auto submitted = std::chrono::steady_clock::now();
  executor.Submit(step);
  ASSERT_TRUE(executor.WaitIdle(5s));
  EXPECT_LT(std::chrono::steady_clock::now() - submitted, 3s);
  auto finals = log.Finals("store-7");
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_EQ(finals[0].state(), topos::v1::STEP_CANCELLED) << "past its deadline";
  EXPECT_EQ(finals[0].result().error(),
            "deadline passed: local store is at version 5, still waiting for version 7");
}

}  // namespace
}  // namespace topos::agent::steps_test
