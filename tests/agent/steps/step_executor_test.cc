// StepExecutor: steps run once per id, outcomes are journaled and
// re-reported, invalid steps are refused at once, interrupted steps run again
// after a restart, and a cancelled step ends promptly with its processes.
#include "agent/steps/step_executor.h"

#include "tests/agent/steps/steps_fixture.h"

namespace topos::agent::steps_test {
namespace {

class StepExecutorTest : public StepsTest {
 protected:
  std::unique_ptr<StepExecutor> NewExecutor() {
    auto executor = std::make_unique<StepExecutor>(context_);
    executor->SetSink(log_.Sink());
    return executor;
  }

  // A manifest whose install hook runs `script` under /bin/sh -c.
  static topos::v1::Service WithHook(const std::string& version, const std::string& script) {
    auto manifest = Manifest("web", version);
    manifest.mutable_install_hook()->add_argv("/bin/sh");
    manifest.mutable_install_hook()->add_argv("-c");
    manifest.mutable_install_hook()->add_argv(script);
    return manifest;
  }

  UpdateLog log_;
};

TEST_F(StepExecutorTest, AStepIdSubmittedTwiceRunsOnceAndIsReReported) {
  fs::path marker = root_ / "hook-runs";
  Publish({WithHook("1.0", "echo ran >> " + marker.string())});
  auto step = Step("install-web-1", topos::v1::INSTALL_SERVICE, "web", Artifact({IdleService()}));
  auto executor = NewExecutor();
  executor->Start();
  executor->Submit(step);
  executor->Submit(step);  // queued or running: dropped
  ASSERT_TRUE(executor->WaitIdle(20s));
  ASSERT_GE(log_.Finals(step.step_id()).size(), 1u);

  executor->Submit(step);  // finished: its journaled outcome is reported again
  ASSERT_TRUE(executor->WaitIdle(5s));
  EXPECT_EQ(Slurp(marker), "ran\n") << "the install hook ran exactly once";

  auto finals = log_.Finals(step.step_id());
  ASSERT_GE(finals.size(), 2u);
  for (const auto& update : finals) {
    EXPECT_EQ(update.state(), topos::v1::STEP_SUCCEEDED);
    EXPECT_EQ(update.kind(), topos::v1::INSTALL_SERVICE);
    EXPECT_EQ(update.service(), "web");
    EXPECT_TRUE(update.result().changed());
    EXPECT_THAT(update.result().summary(), HasSubstr("installed web 1.0"));
  }
  auto journaled = journal_->Find(step.step_id());
  ASSERT_TRUE(journaled.ok());
  EXPECT_EQ(journaled->state(), topos::v1::STEP_SUCCEEDED);
  EXPECT_GT(journaled->finished_at_unix_ms(), 0);

  auto outcomes = executor->RecentOutcomes();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].step_id(), step.step_id());
  EXPECT_EQ(outcomes[0].state(), topos::v1::STEP_SUCCEEDED);
}

TEST_F(StepExecutorTest, InvalidStepsFailAtOnceWithoutRunning) {
  auto executor = NewExecutor();  // not started: the answer must not need the thread
  struct Case {
    RunStep step;
    std::string reason;
  } cases[] = {
      {Step("../../etc/passwd", topos::v1::STOP_SERVICE, "web"), "step id \"../../etc/passwd\""},
      {Step("", topos::v1::STOP_SERVICE, "web"), "step id \"\""},
      {Step("kind-42", static_cast<topos::v1::StepKind>(42), "web"), "unknown step kind 42"},
      {Step("no-kind", topos::v1::STEP_KIND_UNSPECIFIED, "web"), "unknown step kind 0"},
      {Step("bad-service", topos::v1::START_SERVICE, "../web"), "service name \"../web\""},
      {Step("no-service", topos::v1::INSTALL_SERVICE, ""), "service name \"\""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.reason);
    executor->Submit(c.step);
    auto finals = log_.Finals(c.step.step_id());
    ASSERT_EQ(finals.size(), 1u) << "answered synchronously";
    EXPECT_EQ(finals[0].state(), topos::v1::STEP_FAILED);
    EXPECT_THAT(finals[0].result().error(), HasSubstr(c.reason));
  }
  EXPECT_TRUE(journal_->Recent(100).empty()) << "nothing was journaled";
}

TEST_F(StepExecutorTest, StepLeftRunningByACrashRunsAgainOnStart) {
  applied_ = 4;
  topos::v1::JournalEntry cut;
  *cut.mutable_step() = Step("store-4", topos::v1::SETUP_LOCAL_STORE, "");
  cut.mutable_step()->set_config_version(4);
  cut.set_state(topos::v1::STEP_RUNNING);
  cut.set_started_at_unix_ms(1000);
  ASSERT_TRUE(journal_->Write(cut).ok());

  // The agent restarts: a new journal over the same directory.
  auto reopened = StepJournal::Open(state_dir_);
  ASSERT_TRUE(reopened.ok()) << reopened.status().message();
  context_.journal = std::move(*reopened);
  auto executor = NewExecutor();
  executor->Start();
  ASSERT_TRUE(executor->WaitIdle(10s));

  auto finals = log_.Finals("store-4");
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_EQ(finals[0].state(), topos::v1::STEP_SUCCEEDED);
  EXPECT_THAT(finals[0].result().summary(), HasSubstr("local store at version 4"));
  EXPECT_EQ(context_.journal->Find("store-4")->state(), topos::v1::STEP_SUCCEEDED);
}

TEST_F(StepExecutorTest, CancelEndsARunningStepAndKillsItsProcessGroup) {
  fs::path pid_file = root_ / "hook.pid";
  Publish({WithHook("1.0", "echo $$ > " + pid_file.string() + "; sleep 30 & sleep 30")});
  auto step = Step("install-slow", topos::v1::INSTALL_SERVICE, "web", Artifact({IdleService()}));
  auto executor = NewExecutor();
  executor->Start();
  executor->Submit(step);

  pid_t group = 0;
  ASSERT_TRUE(Eventually([&] {
    std::string text = Slurp(pid_file);
    if (text.empty() || text.back() != '\n') return false;
    group = static_cast<pid_t>(std::stol(text));
    return true;
  })) << "the hook never started";
  ASSERT_TRUE(GroupHasLiveMembers(group));

  auto cancelled_at = std::chrono::steady_clock::now();
  executor->Cancel(step.step_id());
  ASSERT_TRUE(executor->WaitIdle(10s));
  EXPECT_LT(std::chrono::steady_clock::now() - cancelled_at, 3s);

  auto finals = log_.Finals(step.step_id());
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_EQ(finals[0].state(), topos::v1::STEP_CANCELLED);
  EXPECT_THAT(finals[0].result().error(), HasSubstr("cancelled"));
  EXPECT_FALSE(GroupHasLiveMembers(group)) << "the hook and its background sleep are gone";
  EXPECT_EQ(journal_->Find(step.step_id())->state(), topos::v1::STEP_CANCELLED);
  EXPECT_EQ(CurrentTarget("web"), "") << "a cancelled install switches nothing";
  EXPECT_FALSE(fs::exists(ServiceDir("web") / "versions" / "1.0"));
}

TEST_F(StepExecutorTest, CancelOfAQueuedStepReportsItWithoutRunningIt) {
  applied_ = 1;
  auto blocker = Step("store-9", topos::v1::SETUP_LOCAL_STORE, "");
  blocker.set_config_version(9);  // waits until cancelled
  auto queued = Step("store-1", topos::v1::SETUP_LOCAL_STORE, "");
  queued.set_config_version(1);
  auto executor = NewExecutor();
  executor->Start();
  executor->Submit(blocker);
  executor->Submit(queued);
  ASSERT_TRUE(Eventually([&] { return journal_->Find("store-9").ok(); }));

  executor->Cancel("store-1");
  auto finals = log_.Finals("store-1");
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_EQ(finals[0].state(), topos::v1::STEP_CANCELLED);
  EXPECT_EQ(finals[0].result().error(), "cancelled before it started");

  executor->Cancel("store-9");
  ASSERT_TRUE(executor->WaitIdle(5s));
  auto blocked = log_.Finals("store-9");
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_EQ(blocked[0].state(), topos::v1::STEP_CANCELLED);
  EXPECT_THAT(blocked[0].result().error(), HasSubstr("still waiting for version 9"));
  EXPECT_EQ(log_.Finals("store-1").size(), 1u) << "the cancelled step never ran";
  executor->Cancel("unknown-step");  // ignored
}

TEST_F(StepExecutorTest, FailedStepIsJournaledWithItsReasonAndOutput) {
  Publish({Manifest("web", "1.0")});
  ASSERT_TRUE(Run(InstallServiceStep,
                  Step("install-1", topos::v1::INSTALL_SERVICE, "web", Artifact({IdleService()})))
                  .ok());
  Publish({WithHook("2.0", "echo applying migration 7; exit 1")});
  auto step = Step("install-2", topos::v1::INSTALL_SERVICE, "web", Artifact({IdleService()}));
  auto executor = NewExecutor();
  executor->Start();
  executor->Submit(step);
  ASSERT_TRUE(executor->WaitIdle(20s));

  auto finals = log_.Finals(step.step_id());
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_EQ(finals[0].state(), topos::v1::STEP_FAILED);
  EXPECT_THAT(finals[0].result().error(), HasSubstr("install hook exited with status 1"));
  EXPECT_THAT(finals[0].result().error(), HasSubstr("applying migration 7"));
  EXPECT_THAT(log_.Output(step.step_id()), HasSubstr("applying migration 7"))
      << "hook output is streamed as RUNNING updates";
  EXPECT_EQ(journal_->Find(step.step_id())->result().error(), finals[0].result().error());
  EXPECT_EQ(CurrentTarget("web"), "versions/1.0");
}

// A failing hook's output tail reaches the controller in the result.
TEST_F(StepExecutorTest, FailedHookReportsItsOutputTail) {
  Publish({WithHook("1.0", "echo applying migration 7; exit 1")});
  auto step = Step("install-tail", topos::v1::INSTALL_SERVICE, "web", Artifact({IdleService()}));
  auto executor = NewExecutor();
  executor->Start();
  executor->Submit(step);
  ASSERT_TRUE(executor->WaitIdle(20s));
  auto finals = log_.Finals(step.step_id());
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_EQ(finals[0].state(), topos::v1::STEP_FAILED);
  EXPECT_THAT(finals[0].result().output_tail(), HasSubstr("applying migration 7"));
}

TEST_F(StepExecutorTest, ServiceReportsDescribeInstalledServices) {
  Publish({Manifest("web", "1.0")});
  ASSERT_TRUE(Run(InstallServiceStep,
                  Step("install-1", topos::v1::INSTALL_SERVICE, "web", Artifact({IdleService()})))
                  .ok());
  auto executor = NewExecutor();
  auto reports = executor->ServiceReports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].name(), "web");
  EXPECT_EQ(reports[0].version(), "1.0");
  EXPECT_EQ(reports[0].state(), "installed");
  EXPECT_EQ(reports[0].health(), "unknown");
}

}  // namespace
}  // namespace topos::agent::steps_test
