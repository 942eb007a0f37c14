#include "agent/service/systemd_service_manager.h"

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "agent/service/systemd_unit.h"

namespace topos::agent {
namespace {

namespace fs = std::filesystem;
using Phase = ServiceState::Phase;

// Records every command and answers with scripted results (exit 0, no output
// once the script runs out).
class FakeSystemctl {
 public:
  SystemdServiceManager::Runner Runner() {
    return [this](const CommandSpec& spec) -> Result<CommandResult> {
      commands.push_back(spec.argv);
      EXPECT_FALSE(spec.shell);
      CommandResult result;
      result.outcome = CommandResult::Outcome::kExited;
      result.exit_code = 0;
      if (!script.empty()) {
        result = script.front();
        script.pop_front();
      }
      return result;
    };
  }
  void Answer(int exit_code, std::string output) {
    CommandResult result;
    result.outcome = CommandResult::Outcome::kExited;
    result.exit_code = exit_code;
    result.output_tail = std::move(output);
    script.push_back(result);
  }

  std::vector<std::vector<std::string>> commands;
  std::deque<CommandResult> script;
};

class SystemdServiceManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "svc-systemd-XXXXXX").string();
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }

  ServiceRunSpec Spec() {
    ServiceRunSpec spec;
    spec.name = "web";
    spec.version = "3.1";
    spec.command.argv = {"/usr/bin/web", "--listen", ":80"};
    spec.log_file = dir_ / "web.log";
    return spec;
  }

  fs::path dir_;
  FakeSystemctl systemctl_;
};

using Argv = std::vector<std::string>;

TEST_F(SystemdServiceManagerTest, StartWritesTheUnitReloadsAndRestarts) {
  SystemdServiceManager manager(dir_, systemctl_.Runner());
  EXPECT_STREQ(manager.BackendName(), "systemd");
  ASSERT_TRUE(manager.Start(Spec()).ok());
  std::ifstream in(dir_ / "topos-web.service");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, *RenderUnit(Spec()));
  EXPECT_FALSE(fs::exists(dir_ / "topos-web.service.tmp"));
  ASSERT_EQ(systemctl_.commands.size(), 2u);
  EXPECT_EQ(systemctl_.commands[0], (Argv{"systemctl", "daemon-reload"}));
  EXPECT_EQ(systemctl_.commands[1], (Argv{"systemctl", "restart", "topos-web.service"}));
}

TEST_F(SystemdServiceManagerTest, StartRefusesABadSpecWithoutTouchingSystemd) {
  SystemdServiceManager manager(dir_, systemctl_.Runner());
  ServiceRunSpec spec = Spec();
  spec.command.argv.push_back("x\nExecStartPre=/bin/evil");
  EXPECT_EQ(manager.Start(spec).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(systemctl_.commands.empty());
  EXPECT_FALSE(fs::exists(dir_ / "topos-web.service"));
}

TEST_F(SystemdServiceManagerTest, StartReportsAFailedRestartWithItsOutput) {
  SystemdServiceManager manager(dir_, systemctl_.Runner());
  systemctl_.Answer(0, "");
  systemctl_.Answer(1, "Job for topos-web.service failed.");
  Status status = manager.Start(Spec());
  EXPECT_EQ(status.code(), Status::Code::kInternal);
  EXPECT_NE(status.message().find("systemctl restart topos-web.service"), std::string::npos);
  EXPECT_NE(status.message().find("Job for topos-web.service failed."), std::string::npos);
}

TEST_F(SystemdServiceManagerTest, QueryMapsSystemdStates) {
  SystemdServiceManager manager(dir_, systemctl_.Runner());
  EXPECT_EQ(manager.Query("web").phase, Phase::kStopped);  // no unit: no systemctl call
  EXPECT_TRUE(systemctl_.commands.empty());

  ASSERT_TRUE(manager.Start(Spec()).ok());
  systemctl_.commands.clear();
  systemctl_.Answer(0, "MainPID=4242\nActiveState=active\nSubState=running\nNRestarts=2\n"
                       "Result=success\nExecMainCode=0\nExecMainStatus=0\n");
  ServiceState running = manager.Query("web");
  EXPECT_EQ(running.phase, Phase::kRunning);
  EXPECT_EQ(running.pid, 4242);
  EXPECT_EQ(running.restarts, 2u);
  EXPECT_EQ(running.version, "3.1");
  ASSERT_EQ(systemctl_.commands.size(), 1u);
  EXPECT_EQ(systemctl_.commands[0],
            (Argv{"systemctl", "show", "-p",
                  "MainPID,ActiveState,SubState,NRestarts,Result,ExecMainCode,ExecMainStatus",
                  "topos-web.service"}));

  systemctl_.Answer(0, "MainPID=0\nActiveState=failed\nSubState=failed\nNRestarts=0\n"
                       "Result=exit-code\nExecMainCode=1\nExecMainStatus=3\n");
  ServiceState failed = manager.Query("web");
  EXPECT_EQ(failed.phase, Phase::kFailed);
  EXPECT_EQ(failed.pid, 0);
  EXPECT_EQ(failed.last_error, "exited with status 3");

  systemctl_.Answer(0, "MainPID=0\nActiveState=failed\nNRestarts=5\nResult=start-limit-hit\n"
                       "ExecMainCode=2\nExecMainStatus=9\n");
  EXPECT_EQ(manager.Query("web").last_error, "gave up after 5 restarts: killed by signal 9 (SIGKILL)");

  systemctl_.Answer(0, "MainPID=0\nActiveState=activating\nSubState=auto-restart\nNRestarts=1\n"
                       "Result=exit-code\nExecMainCode=1\nExecMainStatus=1\n");
  ServiceState restarting = manager.Query("web");
  EXPECT_EQ(restarting.phase, Phase::kFailed);
  EXPECT_EQ(restarting.last_error, "exited with status 1; restart pending");

  systemctl_.Answer(0, "MainPID=0\nActiveState=inactive\nSubState=dead\nNRestarts=0\n");
  EXPECT_EQ(manager.Query("web").phase, Phase::kStopped);
}

TEST_F(SystemdServiceManagerTest, SignalsOnlyARunningService) {
  SystemdServiceManager manager(dir_, systemctl_.Runner());
  EXPECT_EQ(manager.Signal("web", SIGHUP).code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(manager.Start(Spec()).ok());
  systemctl_.commands.clear();
  systemctl_.Answer(0, "MainPID=0\nActiveState=inactive\n");
  EXPECT_EQ(manager.Signal("web", SIGHUP).code(), Status::Code::kFailedPrecondition);
  systemctl_.Answer(0, "MainPID=7\nActiveState=active\n");
  ASSERT_TRUE(manager.Signal("web", SIGHUP).ok());
  EXPECT_EQ(systemctl_.commands.back(),
            (Argv{"systemctl", "kill", "--signal=SIGHUP", "topos-web.service"}));
}

TEST_F(SystemdServiceManagerTest, StopAndRemove) {
  SystemdServiceManager manager(dir_, systemctl_.Runner());
  EXPECT_TRUE(manager.Stop("web").ok());  // unknown: nothing to do
  EXPECT_TRUE(manager.Remove("web").ok());
  EXPECT_TRUE(systemctl_.commands.empty());
  EXPECT_EQ(manager.Stop("../x").code(), Status::Code::kInvalidArgument);

  ASSERT_TRUE(manager.Start(Spec()).ok());
  systemctl_.commands.clear();
  systemctl_.Answer(5, "Unit topos-web.service not loaded.");  // accepted: not running
  EXPECT_TRUE(manager.Stop("web").ok());
  EXPECT_EQ(systemctl_.commands.back(), (Argv{"systemctl", "stop", "topos-web.service"}));
  systemctl_.Answer(1, "Access denied");
  EXPECT_EQ(manager.Stop("web").code(), Status::Code::kInternal);

  systemctl_.commands.clear();
  ASSERT_TRUE(manager.Remove("web").ok());
  EXPECT_FALSE(fs::exists(dir_ / "topos-web.service"));
  ASSERT_GE(systemctl_.commands.size(), 2u);
  EXPECT_EQ(systemctl_.commands[0], (Argv{"systemctl", "stop", "topos-web.service"}));
  EXPECT_EQ(systemctl_.commands[1], (Argv{"systemctl", "daemon-reload"}));
}

// Against the machine's systemd: only as root where systemd runs.
TEST(SystemdServiceManagerLive, StartsQueriesAndStopsARealUnit) {
  if (!fs::is_directory("/run/systemd/system") || geteuid() != 0) {
    GTEST_SKIP() << "needs systemd and root";
  }
  SystemdServiceManager manager;
  ServiceRunSpec spec;
  spec.name = "topos-selftest-" + std::to_string(getpid());
  spec.version = "1";
  spec.command.argv = {"/bin/sleep", "30"};
  spec.log_file = fs::temp_directory_path() / (spec.name + ".log");
  ASSERT_TRUE(manager.Start(spec).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  ServiceState state = manager.Query(spec.name);
  while (state.phase != Phase::kRunning && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    state = manager.Query(spec.name);
  }
  EXPECT_EQ(state.phase, Phase::kRunning);
  EXPECT_GT(state.pid, 0);
  EXPECT_EQ(state.version, "1");
  EXPECT_TRUE(manager.Stop(spec.name).ok());
  EXPECT_NE(manager.Query(spec.name).phase, Phase::kRunning);
  EXPECT_TRUE(manager.Remove(spec.name).ok());
  EXPECT_FALSE(fs::exists(manager.UnitPath(spec.name)));
  fs::remove(spec.log_file);
}

}  // namespace
}  // namespace topos::agent
