#include "tests/bench/noop_step_runner.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace topos::bench {
namespace {

namespace fs = std::filesystem;
using topos::v1::StepUpdate;

// Collects what the runner sends.
class Sink {
 public:
  agent::StepRunner::UpdateSink Get() {
    return [this](const StepUpdate& update) {
      std::lock_guard lock(mutex_);
      updates_.push_back(update);
    };
  }
  std::vector<StepUpdate> updates() {
    std::lock_guard lock(mutex_);
    return updates_;
  }

 private:
  std::mutex mutex_;
  std::vector<StepUpdate> updates_;
};

topos::v1::RunStep Step(const std::string& id, topos::v1::StepKind kind,
                        const std::string& service = "svc") {
  topos::v1::RunStep step;
  step.set_step_id(id);
  step.set_kind(kind);
  if (kind != topos::v1::SETUP_LOCAL_STORE) step.set_service(service);
  return step;
}

class NoOpStepRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "noop-runner-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the local store slice a simulated agent would hold.
  void WriteSlice(const std::string& version) {
    topos::v1::HostConfig slice;
    slice.set_version(1);
    slice.set_host_fqdn("sim-1.bench.test");
    auto* pool = slice.add_pools();
    pool->set_name("p0");
    pool->set_fqdn("p0.bench.test");
    pool->add_hosts("sim-1.bench.test");
    auto* service = slice.add_services();
    service->set_name("svc");
    service->set_version(version);
    service->mutable_certificate()->add_names("extra.bench.test");
    std::string json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(slice, &json).ok());
    fs::create_directories(dir_ / "store");
    std::ofstream(dir_ / "store" / "current.json") << json;
  }

  fs::path dir_;
};

TEST_F(NoOpStepRunnerTest, AnswersEachStepAtOnceWithSuccess) {
  NoOpStepRunner runner(dir_);
  Sink sink;
  runner.SetSink(sink.Get());
  runner.Submit(Step("s1", topos::v1::CHECK_PREREQUISITES));
  auto updates = sink.updates();
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].step_id(), "s1");
  EXPECT_EQ(updates[0].kind(), topos::v1::CHECK_PREREQUISITES);
  EXPECT_EQ(updates[0].service(), "svc");
  EXPECT_EQ(updates[0].state(), topos::v1::STEP_SUCCEEDED);
  EXPECT_EQ(updates[0].result().summary().rfind("no-op", 0), 0u) << updates[0].result().summary();
  EXPECT_GT(updates[0].at_unix_ms(), 0);
  EXPECT_EQ(runner.executed(), 1u);
}

TEST_F(NoOpStepRunnerTest, ResentStepGetsTheSameOutcomeAndIsNotRunAgain) {
  NoOpStepRunner runner(dir_);
  Sink sink;
  runner.SetSink(sink.Get());
  runner.Submit(Step("s1", topos::v1::SETUP_LOCAL_STORE));
  runner.Submit(Step("s1", topos::v1::SETUP_LOCAL_STORE));
  auto updates = sink.updates();
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[0].SerializeAsString(), updates[1].SerializeAsString());
  EXPECT_EQ(runner.executed(), 1u);
  EXPECT_EQ(runner.resent(), 1u);
  auto recent = runner.RecentOutcomes();
  ASSERT_EQ(recent.size(), 1u);
  EXPECT_EQ(recent[0].step_id(), "s1");
  EXPECT_EQ(recent[0].state(), topos::v1::STEP_SUCCEEDED);
}

// The fan-out benchmark reads per-agent answer times: the first and last
// controller step, not resends and not the swarm's own local installs.
TEST_F(NoOpStepRunnerTest, RecordsWhenItFirstAndLastAnsweredTheController) {
  NoOpStepRunner runner(dir_);
  Sink sink;
  runner.SetSink(sink.Get());
  EXPECT_EQ(runner.first_answer(), std::chrono::system_clock::time_point{});
  runner.Submit(Step("swarm-install-1", topos::v1::INSTALL_SERVICE));
  EXPECT_EQ(runner.first_answer(), std::chrono::system_clock::time_point{});
  auto before = std::chrono::system_clock::now();
  runner.Submit(Step("s1", topos::v1::SETUP_LOCAL_STORE));
  auto first = runner.first_answer();
  EXPECT_GE(first, before);
  EXPECT_EQ(runner.last_answer(), first);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  runner.Submit(Step("s1", topos::v1::SETUP_LOCAL_STORE));  // a resend
  EXPECT_EQ(runner.last_answer(), first);
  runner.Submit(Step("s2", topos::v1::CHECK_PREREQUISITES));
  EXPECT_EQ(runner.first_answer(), first);
  EXPECT_GT(runner.last_answer(), first);
}

TEST_F(NoOpStepRunnerTest, KeepsOutcomesWithoutASinkAndDeliversThemLater) {
  NoOpStepRunner runner(dir_);
  runner.Submit(Step("a", topos::v1::CHECK_PREREQUISITES));
  runner.Submit(Step("b", topos::v1::START_SERVICE));
  Sink sink;
  runner.SetSink(sink.Get());
  auto updates = sink.updates();
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[0].step_id(), "a");
  EXPECT_EQ(updates[1].step_id(), "b");
  // Delivered once: clearing and setting the sink again sends nothing more.
  runner.SetSink({});
  Sink again;
  runner.SetSink(again.Get());
  EXPECT_TRUE(again.updates().empty());
}

TEST_F(NoOpStepRunnerTest, CancelOfUnknownOrFinishedStepIsIgnored) {
  NoOpStepRunner runner(dir_);
  Sink sink;
  runner.SetSink(sink.Get());
  runner.Cancel("never-seen");
  runner.Submit(Step("s1", topos::v1::CHECK_PREREQUISITES));
  runner.Cancel("s1");
  auto updates = sink.updates();
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].state(), topos::v1::STEP_SUCCEEDED);
  ASSERT_EQ(runner.RecentOutcomes().size(), 1u);
  EXPECT_EQ(runner.RecentOutcomes()[0].state(), topos::v1::STEP_SUCCEEDED);
}

TEST_F(NoOpStepRunnerTest, RefusesInvalidStepsLikeARealAgent) {
  NoOpStepRunner runner(dir_);
  Sink sink;
  runner.SetSink(sink.Get());
  runner.Submit(Step("", topos::v1::CHECK_PREREQUISITES));
  runner.Submit(Step("bad-kind", static_cast<topos::v1::StepKind>(999)));
  runner.Submit(Step("bad-service", topos::v1::INSTALL_SERVICE, "../etc"));
  auto updates = sink.updates();
  ASSERT_EQ(updates.size(), 3u);
  for (const auto& update : updates) {
    EXPECT_EQ(update.state(), topos::v1::STEP_FAILED) << update.step_id();
    EXPECT_FALSE(update.result().error().empty()) << update.step_id();
  }
  EXPECT_TRUE(runner.ServiceReports().empty());
}

TEST_F(NoOpStepRunnerTest, SimulatesTheServiceTheStepsDescribe) {
  WriteSlice("1.0");
  NoOpStepRunner runner(dir_);
  Sink sink;
  runner.SetSink(sink.Get());
  runner.Submit(Step("i1", topos::v1::INSTALL_SERVICE));
  runner.Submit(Step("c1", topos::v1::ASSIGN_CERTIFICATE));
  runner.Submit(Step("r1", topos::v1::START_SERVICE));
  auto reports = runner.ServiceReports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].name(), "svc");
  EXPECT_EQ(reports[0].version(), "1.0");
  EXPECT_EQ(reports[0].state(), "running");
  EXPECT_EQ(reports[0].health(), "healthy");
  std::vector<std::string> names(reports[0].certificate_names().begin(),
                                 reports[0].certificate_names().end());
  EXPECT_EQ(names, (std::vector<std::string>{"sim-1.bench.test", "p0.bench.test", "extra.bench.test"}));
  EXPECT_GT(reports[0].certificate_not_after_unix(), 0);
  // Final updates carry the services as they are after the step.
  auto updates = sink.updates();
  ASSERT_EQ(updates.size(), 3u);
  EXPECT_EQ(updates[0].result().version(), "1.0");
  ASSERT_EQ(updates[2].services_size(), 1);
  EXPECT_EQ(updates[2].services(0).state(), "running");

  // A new version keeps the old one for rollback; rollback swaps them.
  WriteSlice("2.0");
  runner.Submit(Step("i2", topos::v1::INSTALL_SERVICE));
  EXPECT_EQ(runner.ServiceReports()[0].version(), "2.0");
  EXPECT_EQ(runner.ServiceReports()[0].previous_version(), "1.0");
  runner.Submit(Step("rb", topos::v1::ROLLBACK));
  EXPECT_EQ(runner.ServiceReports()[0].version(), "1.0");
  runner.Submit(Step("st", topos::v1::STOP_SERVICE));
  EXPECT_EQ(runner.ServiceReports()[0].state(), "installed");
  runner.Submit(Step("un", topos::v1::UNINSTALL_SERVICE));
  EXPECT_TRUE(runner.ServiceReports().empty());
  EXPECT_EQ(runner.executed(), 7u);
}

TEST_F(NoOpStepRunnerTest, InstallWithoutALocalStoreStillSucceeds) {
  NoOpStepRunner runner(dir_);
  Sink sink;
  runner.SetSink(sink.Get());
  runner.Submit(Step("i1", topos::v1::INSTALL_SERVICE));
  ASSERT_EQ(sink.updates().size(), 1u);
  EXPECT_EQ(sink.updates()[0].state(), topos::v1::STEP_SUCCEEDED);
  EXPECT_EQ(runner.ServiceReports().at(0).version(), "no-op");
}

TEST_F(NoOpStepRunnerTest, RecentOutcomesHonoursTheLimitNewestLast) {
  NoOpStepRunner runner(dir_);
  for (int i = 0; i < 10; ++i) runner.Submit(Step("s" + std::to_string(i), topos::v1::SETUP_LOCAL_STORE));
  auto recent = runner.RecentOutcomes(3);
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent[0].step_id(), "s7");
  EXPECT_EQ(recent[2].step_id(), "s9");
}

}  // namespace
}  // namespace topos::bench
