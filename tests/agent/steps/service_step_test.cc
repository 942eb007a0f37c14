// start_service, stop_service and uninstall_service with the real
// supervisor: the process runs, its health check gates success, and a failed
// start reports why with the end of the service's log.
#include <signal.h>

#include "tests/agent/steps/steps_fixture.h"

namespace topos::agent::steps_test {
namespace {

using Phase = ServiceState::Phase;

class ServiceStep : public StepsTest {
 protected:
  // A manifest whose health check passes once bin/svc has touched `ready`.
  static topos::v1::Service Checked(const std::string& version, const std::string& command,
                                    std::uint32_t timeout_seconds) {
    auto manifest = Manifest("web", version);
    manifest.mutable_health_check()->set_command(command);
    manifest.mutable_health_check()->set_timeout_seconds(timeout_seconds);
    manifest.mutable_restart()->set_policy("never");
    return manifest;
  }

  Result<StepResult> Start(const std::string& id) {
    return Run(StartServiceStep, Step(id, topos::v1::START_SERVICE, "web"));
  }
};

TEST_F(ServiceStep, StartsTheServiceOnceItsHealthCheckPasses) {
  ASSERT_TRUE(Install(Checked("1.0", "test -f ready", 10), {IdleService("web 1.0 listening")}).ok());
  auto started = Start("start-1");
  ASSERT_TRUE(started.ok()) << started.status().message();
  EXPECT_TRUE(started->changed());
  ASSERT_GT(started->pid(), 0);
  EXPECT_TRUE(Alive(started->pid()));
  EXPECT_EQ(started->version(), "1.0");
  EXPECT_THAT(started->summary(), HasSubstr("web 1.0 running (pid " + std::to_string(started->pid())));
  EXPECT_THAT(started->summary(), HasSubstr("health check passed"));
  EXPECT_TRUE(fs::exists(ServiceDir("web") / "versions" / "1.0" / "ready"))
      << "the service runs in its current version directory";
  EXPECT_TRUE(Eventually([&] {
    return Slurp(ServiceDir("web") / "service.log").find("web 1.0 listening") != std::string::npos;
  })) << "the service's output goes to service.log";

  auto record = journal_->GetService("web");
  ASSERT_TRUE(record.ok());
  EXPECT_TRUE(record->should_run());
  EXPECT_EQ(record->health(), "healthy");
  EXPECT_EQ(record->started_version(), "1.0");
}

TEST_F(ServiceStep, StartingARunningHealthyServiceChangesNothing) {
  ASSERT_TRUE(Install(Checked("1.0", "test -f ready", 10), {IdleService()}).ok());
  auto first = Start("start-1");
  ASSERT_TRUE(first.ok()) << first.status().message();

  auto again = Start("start-2");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_FALSE(again->changed());
  EXPECT_EQ(again->pid(), first->pid()) << "not restarted";
  EXPECT_THAT(again->summary(), HasSubstr("already running"));
  EXPECT_TRUE(Alive(first->pid()));
}

TEST_F(ServiceStep, StartingAfterAnUpgradeRestartsOnTheNewVersion) {
  ASSERT_TRUE(Install(Checked("1.0", "test -f ready", 10), {IdleService()}).ok());
  auto first = Start("start-1");
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_TRUE(Install(Checked("2.0", "test -f ready", 10), {IdleService()}).ok());

  auto second = Start("start-2");
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_TRUE(second->changed());
  EXPECT_EQ(second->version(), "2.0");
  EXPECT_NE(second->pid(), first->pid());
  EXPECT_FALSE(Alive(first->pid())) << "the old process is stopped";
  EXPECT_TRUE(Alive(second->pid()));
}

TEST_F(ServiceStep, HealthCheckThatNeverPassesFailsWithTheLogTail) {
  ASSERT_TRUE(Install(Checked("1.0", "false", 1),
                      {Script("bin/svc", "echo 'boot: cannot open port 443' >&2\nexec sleep 1000")})
                  .ok());
  auto started = std::chrono::steady_clock::now();
  auto failed = Start("start-1");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 8s);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(failed.status().message(), HasSubstr("health check"));
  EXPECT_THAT(failed.status().message(), HasSubstr("did not pass within 1s"));
  EXPECT_THAT(failed.status().message(), HasSubstr("exited with status 1"));
  EXPECT_THAT(failed.status().message(), HasSubstr("last output:\nboot: cannot open port 443"));

  EXPECT_NE(services_->Query("web").phase, Phase::kRunning) << "an unhealthy start is stopped";
  auto record = journal_->GetService("web");
  ASSERT_TRUE(record.ok());
  EXPECT_FALSE(record->should_run());
  EXPECT_EQ(record->health(), "unhealthy");
}

TEST_F(ServiceStep, ServiceThatExitsAtOnceFailsWithoutWaitingForTheTimeout) {
  ASSERT_TRUE(Install(Checked("1.0", "test -f ready", 30),
                      {Script("bin/svc", "echo 'fatal: missing config'\nexit 3")})
                  .ok());
  // The supervisor notices deaths on Tick, as the executor's timer calls it.
  std::atomic<bool> stop{false};
  std::thread ticker([&] {
    while (!stop) {
      services_->Tick();
      std::this_thread::sleep_for(50ms);
    }
  });
  auto started = std::chrono::steady_clock::now();
  auto failed = Start("start-1");
  stop = true;
  ticker.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("service exited before its health check passed"));
  EXPECT_THAT(failed.status().message(), HasSubstr("fatal: missing config"));
}

TEST_F(ServiceStep, StartBeforeInstallFailsSayingSo) {
  Publish({Checked("1.0", "test -f ready", 10)});
  auto failed = Start("start-1");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(failed.status().message(), HasSubstr("web is not installed: install it first"));
}

TEST_F(ServiceStep, StopStopsTheProcessAndIsIdempotent) {
  ASSERT_TRUE(Install(Checked("1.0", "test -f ready", 10), {IdleService()}).ok());
  auto started = Start("start-1");
  ASSERT_TRUE(started.ok()) << started.status().message();

  auto stopped = Run(StopServiceStep, Step("stop-1", topos::v1::STOP_SERVICE, "web"));
  ASSERT_TRUE(stopped.ok()) << stopped.status().message();
  EXPECT_TRUE(stopped->changed());
  EXPECT_EQ(stopped->summary(), "web stopped");
  EXPECT_FALSE(Alive(started->pid()));
  EXPECT_FALSE(GroupHasLiveMembers(started->pid()));
  EXPECT_EQ(services_->Query("web").phase, Phase::kStopped);
  auto record = journal_->GetService("web");
  EXPECT_FALSE(record->should_run()) << "a restarted agent must not start it again";

  auto again = Run(StopServiceStep, Step("stop-2", topos::v1::STOP_SERVICE, "web"));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_FALSE(again->changed());
  EXPECT_EQ(again->summary(), "web was not running");
}

TEST_F(ServiceStep, UninstallRemovesEverything) {
  ASSERT_TRUE(Install(Checked("1.0", "test -f ready", 10), {IdleService()}).ok());
  auto started = Start("start-1");
  ASSERT_TRUE(started.ok()) << started.status().message();

  auto removed = Run(UninstallServiceStep, Step("uninstall-1", topos::v1::UNINSTALL_SERVICE, "web"));
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  EXPECT_TRUE(removed->changed());
  EXPECT_EQ(removed->summary(), "web uninstalled");
  EXPECT_FALSE(fs::exists(ServiceDir("web")));
  EXPECT_FALSE(Alive(started->pid()));
  EXPECT_EQ(journal_->GetService("web").status().code(), Status::Code::kNotFound);

  auto again = Run(UninstallServiceStep, Step("uninstall-2", topos::v1::UNINSTALL_SERVICE, "web"));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_FALSE(again->changed());
  EXPECT_EQ(again->summary(), "web was not installed");
}

TEST_F(ServiceStep, UninstallRefusesNamesThatLeaveTheServicesDirectory) {
  ASSERT_TRUE(Install(Checked("1.0", "test -f ready", 10), {IdleService()}).ok());
  for (const std::string& bad : std::vector<std::string>{"", "..", "../store", "web/../.."}) {
    SCOPED_TRACE(bad);
    auto refused = Run(UninstallServiceStep, Step("uninstall-bad", topos::v1::UNINSTALL_SERVICE, bad));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
  }
  EXPECT_TRUE(fs::exists(ServiceDir("web") / "current" / "bin" / "svc"));
  EXPECT_TRUE(fs::exists(state_dir_ / "store" / "current.json"));
}

TEST_F(ServiceStep, RollbackOfARunningServiceRestartsThePreviousVersion) {
  auto v1 = Checked("1.0", "test -f ready", 10);
  auto v2 = Checked("2.0", "test -f ready", 10);
  ASSERT_TRUE(Install(v1, {IdleService("web 1.0")}).ok());
  ASSERT_TRUE(Install(v2, {IdleService("web 2.0")}).ok());
  auto started = Start("start-2");
  ASSERT_TRUE(started.ok()) << started.status().message();

  auto rolled = Run(RollbackStep, Step("rollback-1", topos::v1::ROLLBACK, "web"));
  ASSERT_TRUE(rolled.ok()) << rolled.status().message();
  EXPECT_EQ(rolled->version(), "1.0");
  ServiceState state = services_->Query("web");
  EXPECT_EQ(state.phase, Phase::kRunning);
  EXPECT_NE(state.pid, started->pid());
  EXPECT_EQ(state.version, "1.0");
  EXPECT_FALSE(Alive(started->pid()));
  EXPECT_TRUE(Eventually([&] {
    return Slurp(ServiceDir("web") / "service.log").find("web 1.0") != std::string::npos;
  }));
}

}  // namespace
}  // namespace topos::agent::steps_test
