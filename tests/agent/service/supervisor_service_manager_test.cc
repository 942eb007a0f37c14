#include "agent/service/supervisor_service_manager.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "agent/process/command_runner.h"
#include "agent/service/proc_probe.h"

namespace topos::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Phase = ServiceState::Phase;

bool Alive(pid_t pid) {
  std::optional<ProcStat> stat = ReadProcStat(pid);
  return stat && stat->state != 'Z' && stat->state != 'X';
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Polls `done` every 10 ms until it holds or `limit` passes.
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "svc-supervisor-XXXXXX").string();
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    state_dir_ = dir_ / "state";
  }
  void TearDown() override {
    for (pid_t pid : to_kill_) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, WNOHANG);
    }
    fs::remove_all(dir_);
  }

  std::unique_ptr<SupervisorServiceManager> Manager() {
    return std::make_unique<SupervisorServiceManager>(state_dir_, [this] { return now_; });
  }

  ServiceRunSpec Spec(const std::string& name, const std::string& script) {
    ServiceRunSpec spec;
    spec.name = name;
    spec.version = "1.0";
    spec.command.argv = {"/bin/sh", "-c", script};
    spec.command.working_dir = dir_;
    spec.log_file = dir_ / (name + ".log");
    spec.stop_timeout = 5s;
    spec.restart_backoff = 1s;
    return spec;
  }

  // Ticks until `done` holds (real time; the fake clock stands still).
  bool TickUntil(SupervisorServiceManager& manager, const std::function<bool()>& done) {
    return Eventually([&] {
      manager.Tick();
      return done();
    });
  }

  // Remembers a pid to SIGKILL (with its group) if a test fails half-way.
  pid_t Track(pid_t pid) {
    to_kill_.push_back(pid);
    return pid;
  }

  fs::path dir_;
  fs::path state_dir_;
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::time_point() + 1h;
  std::vector<pid_t> to_kill_;
};

TEST_F(SupervisorTest, StartsInItsOwnProcessGroupWithOutputInTheLog) {
  auto manager = Manager();
  EXPECT_STREQ(manager->BackendName(), "supervisor");
  ASSERT_TRUE(manager->Start(Spec("hello", "echo hi; exec sleep 30")).ok());
  ServiceState state = manager->Query("hello");
  ASSERT_EQ(state.phase, Phase::kRunning);
  Track(state.pid);
  EXPECT_GT(state.pid, 0);
  EXPECT_EQ(state.version, "1.0");
  EXPECT_EQ(state.restarts, 0u);
  EXPECT_EQ(getpgid(state.pid), state.pid);
  EXPECT_EQ(getsid(state.pid), state.pid);
  EXPECT_TRUE(Eventually([&] { return ReadFile(dir_ / "hello.log").find("hi\n") != std::string::npos; }));
  const std::string pid_file = ReadFile(state_dir_ / "hello.pid");
  EXPECT_NE(pid_file.find("pid=" + std::to_string(state.pid) + "\n"), std::string::npos);
  EXPECT_NE(pid_file.find("version=1.0\n"), std::string::npos);

  manager->Tick();
  EXPECT_EQ(manager->Query("hello").phase, Phase::kRunning);
  ASSERT_TRUE(manager->Stop("hello").ok());
  EXPECT_EQ(manager->Query("hello").phase, Phase::kStopped);
  EXPECT_EQ(manager->Query("hello").pid, 0);
  EXPECT_FALSE(Alive(state.pid));
  EXPECT_FALSE(fs::exists(state_dir_ / "hello.pid"));
  EXPECT_TRUE(manager->Stop("hello").ok());   // stopping again is fine
  EXPECT_TRUE(manager->Stop("unknown").ok());  // so is stopping what never ran
}

TEST_F(SupervisorTest, DefaultLogIsInTheStateDirectory) {
  auto manager = Manager();
  ServiceRunSpec spec = Spec("deflog", "echo to-default-log; exec sleep 30");
  spec.log_file.clear();
  ASSERT_TRUE(manager->Start(spec).ok());
  Track(manager->Query("deflog").pid);
  EXPECT_TRUE(Eventually(
      [&] { return ReadFile(state_dir_ / "deflog.log").find("to-default-log") != std::string::npos; }));
  ASSERT_TRUE(manager->Stop("deflog").ok());
}

TEST_F(SupervisorTest, StopKillsTheWholeGroupPromptly) {
  auto manager = Manager();
  ASSERT_TRUE(manager->Start(Spec("group", "sleep 30 & echo $! > child.pid; exec sleep 30")).ok());
  const pid_t leader = Track(manager->Query("group").pid);
  ASSERT_TRUE(Eventually([&] { return !ReadFile(dir_ / "child.pid").empty(); }));
  const pid_t child = std::stoi(ReadFile(dir_ / "child.pid"));
  ASSERT_TRUE(Alive(child));
  EXPECT_EQ(getpgid(child), leader);

  const auto began = std::chrono::steady_clock::now();
  ASSERT_TRUE(manager->Stop("group").ok());
  EXPECT_LT(std::chrono::steady_clock::now() - began, 3s);
  EXPECT_FALSE(Alive(leader));
  EXPECT_FALSE(Alive(child));
}

TEST_F(SupervisorTest, StopSigkillsAServiceThatIgnoresTheStopSignal) {
  auto manager = Manager();
  ServiceRunSpec spec = Spec("stubborn", "trap '' TERM; echo ready; while :; do sleep 0.1; done");
  spec.stop_timeout = 1s;
  ASSERT_TRUE(manager->Start(spec).ok());
  const pid_t pid = Track(manager->Query("stubborn").pid);
  ASSERT_TRUE(Eventually([&] { return ReadFile(spec.log_file).find("ready") != std::string::npos; }));

  const auto began = std::chrono::steady_clock::now();
  ASSERT_TRUE(manager->Stop("stubborn").ok());
  const auto took = std::chrono::steady_clock::now() - began;
  EXPECT_GE(took, 900ms);  // it was given stop_timeout
  EXPECT_LT(took, 4s);
  EXPECT_FALSE(Alive(pid));
  EXPECT_EQ(manager->Query("stubborn").phase, Phase::kStopped);
}

TEST_F(SupervisorTest, StopUsesTheSpecsSignal) {
  auto manager = Manager();
  ServiceRunSpec spec =
      Spec("graceful", "trap 'echo got-int; exit 0' INT; trap '' TERM; echo ready; "
                       "while :; do sleep 0.05; done");
  spec.stop_signal = SIGINT;
  ASSERT_TRUE(manager->Start(spec).ok());
  Track(manager->Query("graceful").pid);
  ASSERT_TRUE(Eventually([&] { return ReadFile(spec.log_file).find("ready") != std::string::npos; }));
  const auto began = std::chrono::steady_clock::now();
  ASSERT_TRUE(manager->Stop("graceful").ok());
  EXPECT_LT(std::chrono::steady_clock::now() - began, 3s);
  EXPECT_NE(ReadFile(spec.log_file).find("got-int"), std::string::npos);
}

TEST_F(SupervisorTest, RestartsOnFailureWithDoublingBackoffThenGivesUp) {
  auto manager = Manager();
  ServiceRunSpec spec = Spec("crashy", "echo run; exit 1");
  spec.max_restarts = 3;
  spec.restart_backoff = 1s;
  ASSERT_TRUE(manager->Start(spec).ok());
  auto error_has = [&](const std::string& text) {
    return manager->Query("crashy").last_error.find(text) != std::string::npos;
  };

  ASSERT_TRUE(TickUntil(*manager, [&] { return error_has("restart 1 of 3 in 1 s"); }))
      << manager->Query("crashy").last_error;
  ServiceState waiting = manager->Query("crashy");
  EXPECT_EQ(waiting.phase, Phase::kFailed);
  EXPECT_EQ(waiting.pid, 0);
  EXPECT_NE(waiting.last_error.find("exited with status 1"), std::string::npos);
  manager->Tick();
  EXPECT_EQ(manager->Query("crashy").restarts, 0u);  // the clock has not moved

  now_ += 1s;  // first restart due
  ASSERT_TRUE(TickUntil(*manager, [&] { return error_has("restart 2 of 3 in 2 s"); }));
  EXPECT_EQ(manager->Query("crashy").restarts, 1u);

  now_ += 1s;  // not yet: the second waits 2 s
  manager->Tick();
  EXPECT_EQ(manager->Query("crashy").restarts, 1u);
  now_ += 1s;
  ASSERT_TRUE(TickUntil(*manager, [&] { return error_has("restart 3 of 3 in 4 s"); }));
  EXPECT_EQ(manager->Query("crashy").restarts, 2u);

  now_ += 4s;
  ASSERT_TRUE(TickUntil(*manager, [&] { return error_has("gave up"); }));
  ServiceState failed = manager->Query("crashy");
  EXPECT_EQ(failed.phase, Phase::kFailed);
  EXPECT_EQ(failed.restarts, 3u);
  EXPECT_EQ(failed.last_error, "gave up after 3 restarts: exited with status 1");
  EXPECT_FALSE(fs::exists(state_dir_ / "crashy.pid"));

  now_ += 1h;  // nothing more happens
  for (int i = 0; i < 5; ++i) manager->Tick();
  EXPECT_EQ(manager->Query("crashy").restarts, 3u);
  EXPECT_EQ(manager->Query("crashy").phase, Phase::kFailed);
  std::string log = ReadFile(spec.log_file);
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 4);  // one start, three restarts
}

TEST_F(SupervisorTest, BackoffIsCappedAtSixtySeconds) {
  auto manager = Manager();
  ServiceRunSpec spec = Spec("slowcrash", "exit 2");
  spec.restart_backoff = 40s;
  ASSERT_TRUE(manager->Start(spec).ok());
  ASSERT_TRUE(TickUntil(*manager, [&] {
    return manager->Query("slowcrash").last_error.find("in 40 s") != std::string::npos;
  }));
  now_ += 40s;
  ASSERT_TRUE(TickUntil(*manager, [&] {
    return manager->Query("slowcrash").last_error.find("restart 2 of 5 in 60 s") != std::string::npos;
  })) << manager->Query("slowcrash").last_error;
}

TEST_F(SupervisorTest, ZeroBackoffRestartsAtTheNextTick) {
  auto manager = Manager();
  ServiceRunSpec spec = Spec("fastcrash", "exit 1");
  spec.restart_backoff = 0s;
  spec.max_restarts = 2;
  ASSERT_TRUE(manager->Start(spec).ok());
  ASSERT_TRUE(TickUntil(*manager, [&] {
    return manager->Query("fastcrash").last_error.find("gave up after 2 restarts") != std::string::npos;
  }));
  EXPECT_EQ(manager->Query("fastcrash").restarts, 2u);
}

TEST_F(SupervisorTest, NeverPolicyDoesNotRestart) {
  auto manager = Manager();
  ServiceRunSpec spec = Spec("once", "exit 3");
  spec.restart = RestartMode::kNever;
  spec.restart_backoff = 0s;
  ASSERT_TRUE(manager->Start(spec).ok());
  ASSERT_TRUE(TickUntil(*manager, [&] { return manager->Query("once").phase != Phase::kRunning; }));
  now_ += 1h;
  manager->Tick();
  ServiceState state = manager->Query("once");
  EXPECT_EQ(state.phase, Phase::kFailed);
  EXPECT_EQ(state.last_error, "exited with status 3");
  EXPECT_EQ(state.restarts, 0u);
}

TEST_F(SupervisorTest, CleanExitIsNotRestartedOnFailurePolicy) {
  auto manager = Manager();
  ServiceRunSpec spec = Spec("clean", "exit 0");
  spec.restart_backoff = 0s;
  ASSERT_TRUE(manager->Start(spec).ok());
  ASSERT_TRUE(TickUntil(*manager, [&] { return manager->Query("clean").phase != Phase::kRunning; }));
  now_ += 1h;
  manager->Tick();
  ServiceState state = manager->Query("clean");
  EXPECT_EQ(state.phase, Phase::kStopped);
  EXPECT_EQ(state.last_error, "");
  EXPECT_EQ(state.restarts, 0u);
}

TEST_F(SupervisorTest, AlwaysPolicyRestartsACleanExit) {
  auto manager = Manager();
  ServiceRunSpec spec = Spec("always", "exit 0");
  spec.restart = RestartMode::kAlways;
  spec.restart_backoff = 0s;
  ASSERT_TRUE(manager->Start(spec).ok());
  ASSERT_TRUE(TickUntil(*manager, [&] { return manager->Query("always").restarts >= 1; }));
  ASSERT_TRUE(manager->Stop("always").ok());
}

TEST_F(SupervisorTest, KilledServiceIsRestartedAndTheCountResetsAfterAMinuteUp) {
  auto manager = Manager();
  ServiceRunSpec spec = Spec("flaky", "exec sleep 30");
  spec.restart_backoff = 0s;
  spec.max_restarts = 1;
  ASSERT_TRUE(manager->Start(spec).ok());
  pid_t first = Track(manager->Query("flaky").pid);
  kill(first, SIGKILL);
  ASSERT_TRUE(TickUntil(*manager, [&] { return manager->Query("flaky").restarts == 1; }));
  ServiceState second = manager->Query("flaky");
  ASSERT_EQ(second.phase, Phase::kRunning);
  Track(second.pid);
  EXPECT_NE(second.pid, first);

  now_ += 61s;  // up for a minute: the consecutive count starts again
  manager->Tick();
  kill(second.pid, SIGKILL);
  ASSERT_TRUE(TickUntil(*manager, [&] { return manager->Query("flaky").restarts == 2; }));
  ServiceState third = manager->Query("flaky");
  ASSERT_EQ(third.phase, Phase::kRunning);
  Track(third.pid);

  kill(third.pid, SIGKILL);  // again at once: that is one too many
  ASSERT_TRUE(TickUntil(*manager, [&] { return manager->Query("flaky").phase == Phase::kFailed; }));
  EXPECT_EQ(manager->Query("flaky").last_error,
            "gave up after 1 restarts: killed by signal 9 (SIGKILL)");
}

TEST_F(SupervisorTest, WhatIsLeftOfTheGroupDiesWithTheMainProcess) {
  auto manager = Manager();
  ServiceRunSpec spec = Spec("leaky", "sleep 30 & echo $! > child.pid; sleep 0.2; exit 1");
  spec.restart = RestartMode::kNever;
  ASSERT_TRUE(manager->Start(spec).ok());
  ASSERT_TRUE(Eventually([&] { return !ReadFile(dir_ / "child.pid").empty(); }));
  const pid_t child = Track(std::stoi(ReadFile(dir_ / "child.pid")));
  ASSERT_TRUE(TickUntil(*manager, [&] { return manager->Query("leaky").phase == Phase::kFailed; }));
  EXPECT_TRUE(Eventually([&] { return !Alive(child); }));
}

TEST_F(SupervisorTest, StartReplacesTheRunningInstance) {
  auto manager = Manager();
  ServiceRunSpec spec = Spec("app", "exec sleep 30");
  ASSERT_TRUE(manager->Start(spec).ok());
  const pid_t old_pid = Track(manager->Query("app").pid);
  spec.version = "2.0";
  ASSERT_TRUE(manager->Start(spec).ok());
  ServiceState state = manager->Query("app");
  Track(state.pid);
  EXPECT_EQ(state.phase, Phase::kRunning);
  EXPECT_EQ(state.version, "2.0");
  EXPECT_NE(state.pid, old_pid);
  EXPECT_FALSE(Alive(old_pid));
  EXPECT_NE(ReadFile(state_dir_ / "app.pid").find("version=2.0"), std::string::npos);
  ASSERT_TRUE(manager->Stop("app").ok());
}

TEST_F(SupervisorTest, StartRefusesBadSpecs) {
  auto manager = Manager();
  ServiceRunSpec bad_name = Spec("Bad_Name", "true");
  EXPECT_EQ(manager->Start(bad_name).code(), Status::Code::kInvalidArgument);
  ServiceRunSpec traversal = Spec("../x", "true");
  EXPECT_EQ(manager->Start(traversal).code(), Status::Code::kInvalidArgument);
  ServiceRunSpec empty = Spec("empty", "true");
  empty.command.argv.clear();
  EXPECT_EQ(manager->Start(empty).code(), Status::Code::kInvalidArgument);
  ServiceRunSpec bad_version = Spec("badversion", "true");
  bad_version.version = "1\npid=1";
  EXPECT_EQ(manager->Start(bad_version).code(), Status::Code::kInvalidArgument);
  ServiceRunSpec bad_signal = Spec("badsignal", "true");
  bad_signal.stop_signal = 0;
  EXPECT_EQ(manager->Start(bad_signal).code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(state_dir_));
}

TEST_F(SupervisorTest, StartOfAMissingProgramFailsAndSaysWhy) {
  auto manager = Manager();
  ServiceRunSpec spec = Spec("missing", "");
  spec.command.argv = {dir_ / "no-such-program"};
  Status status = manager->Start(spec);
  ASSERT_FALSE(status.ok());
  ServiceState state = manager->Query("missing");
  EXPECT_EQ(state.phase, Phase::kFailed);
  EXPECT_NE(state.last_error.find("start failed"), std::string::npos);
  EXPECT_FALSE(fs::exists(state_dir_ / "missing.pid"));
}

TEST_F(SupervisorTest, SignalsTheRunningServiceOnly) {
  auto manager = Manager();
  EXPECT_EQ(manager->Signal("reload", SIGHUP).code(), Status::Code::kFailedPrecondition);
  ServiceRunSpec spec =
      Spec("reload", "trap 'echo reloaded' HUP; echo ready; while :; do sleep 0.05; done");
  ASSERT_TRUE(manager->Start(spec).ok());
  Track(manager->Query("reload").pid);
  ASSERT_TRUE(Eventually([&] { return ReadFile(spec.log_file).find("ready") != std::string::npos; }));
  ASSERT_TRUE(manager->Signal("reload", SIGHUP).ok());
  EXPECT_TRUE(Eventually([&] { return ReadFile(spec.log_file).find("reloaded") != std::string::npos; }));
  EXPECT_EQ(manager->Query("reload").phase, Phase::kRunning);
  ASSERT_TRUE(manager->Stop("reload").ok());
  EXPECT_EQ(manager->Signal("reload", SIGHUP).code(), Status::Code::kFailedPrecondition);
}

TEST_F(SupervisorTest, RemoveForgetsTheService) {
  auto manager = Manager();
  ASSERT_TRUE(manager->Start(Spec("gone", "exec sleep 30")).ok());
  const pid_t pid = Track(manager->Query("gone").pid);
  ASSERT_TRUE(manager->Remove("gone").ok());
  EXPECT_FALSE(Alive(pid));
  EXPECT_FALSE(fs::exists(state_dir_ / "gone.pid"));
  ServiceState state = manager->Query("gone");
  EXPECT_EQ(state.phase, Phase::kStopped);
  EXPECT_EQ(state.version, "");
  EXPECT_TRUE(manager->Remove("gone").ok());
}

TEST_F(SupervisorTest, ANewManagerAdoptsTheLiveProcessWithoutRestartingIt) {
  ServiceRunSpec spec = Spec("kept", "echo started; exec sleep 30");
  pid_t pid = 0;
  {
    auto first = Manager();
    ASSERT_TRUE(first->Start(spec).ok());
    pid = Track(first->Query("kept").pid);
  }  // the agent goes away; the service stays
  ASSERT_TRUE(Alive(pid));

  auto second = Manager();
  EXPECT_EQ(second->Query("kept").phase, Phase::kStopped);  // unknown until adopted
  ServiceRunSpec newer = spec;
  newer.version = "9.9";
  ASSERT_TRUE(second->Adopt(newer).ok());
  ServiceState state = second->Query("kept");
  EXPECT_EQ(state.phase, Phase::kRunning);
  EXPECT_EQ(state.pid, pid);
  EXPECT_EQ(state.version, "1.0");  // what actually runs
  EXPECT_EQ(state.restarts, 0u);
  second->Tick();
  EXPECT_EQ(second->Query("kept").pid, pid);
  ASSERT_TRUE(Eventually([&] { return ReadFile(spec.log_file) == "started\n"; }));

  ASSERT_TRUE(second->Stop("kept").ok());
  EXPECT_FALSE(Alive(pid));
  EXPECT_FALSE(fs::exists(state_dir_ / "kept.pid"));
}

TEST_F(SupervisorTest, AnAdoptedProcessThatDiesIsNoticedAndRestarted) {
  ServiceRunSpec spec = Spec("adopted", "exec sleep 30");
  spec.restart_backoff = 0s;
  pid_t pid = 0;
  {
    auto first = Manager();
    ASSERT_TRUE(first->Start(spec).ok());
    pid = Track(first->Query("adopted").pid);
  }
  auto second = Manager();
  ASSERT_TRUE(second->Adopt(spec).ok());
  ASSERT_EQ(second->Query("adopted").pid, pid);
  kill(pid, SIGKILL);  // stays a zombie of this test process: still dead
  ASSERT_TRUE(TickUntil(*second, [&] { return second->Query("adopted").restarts == 1; }));
  ServiceState state = second->Query("adopted");
  EXPECT_EQ(state.phase, Phase::kRunning);
  Track(state.pid);
  EXPECT_NE(state.pid, pid);
  ASSERT_TRUE(second->Stop("adopted").ok());
  waitpid(pid, nullptr, 0);
}

TEST_F(SupervisorTest, StartStopsAnInstanceRecordedByAnEarlierAgent) {
  ServiceRunSpec spec = Spec("twice", "exec sleep 30");
  pid_t old_pid = 0;
  {
    auto first = Manager();
    ASSERT_TRUE(first->Start(spec).ok());
    old_pid = Track(first->Query("twice").pid);
  }
  auto second = Manager();
  ASSERT_TRUE(second->Start(spec).ok());  // no Adopt: the old one must not keep running
  Track(second->Query("twice").pid);
  EXPECT_FALSE(Alive(old_pid));
  EXPECT_NE(second->Query("twice").pid, old_pid);
  ASSERT_TRUE(second->Stop("twice").ok());
}

TEST_F(SupervisorTest, AdoptWithoutAPidFileLeavesTheServiceStopped) {
  auto manager = Manager();
  ASSERT_TRUE(manager->Adopt(Spec("fresh", "exec sleep 30")).ok());
  EXPECT_EQ(manager->Query("fresh").phase, Phase::kStopped);
  now_ += 1h;
  manager->Tick();  // and nothing starts it
  EXPECT_EQ(manager->Query("fresh").phase, Phase::kStopped);
  EXPECT_EQ(manager->Adopt(Spec("Bad", "true")).code(), Status::Code::kInvalidArgument);
}

TEST_F(SupervisorTest, AReusedPidIsNeitherAdoptedNorSignalled) {
  // An unrelated process that happens to have the recorded pid: same pid,
  // different start time.
  CommandSpec sleeper;
  sleeper.argv = {"/bin/sleep", "30"};
  Result<pid_t> other = SpawnDetached(sleeper, dir_ / "sleeper.log");
  ASSERT_TRUE(other.ok()) << other.status().message();
  Track(*other);
  std::optional<ProcStat> stat = ReadProcStat(*other);
  ASSERT_TRUE(stat.has_value());

  fs::create_directories(state_dir_);
  auto write_pid_file = [&](pid_t pid, std::uint64_t start_time) {
    std::ofstream(state_dir_ / "reused.pid") << "pid=" << pid << "\nstart_time=" << start_time
                                             << "\nversion=0.1\nrestarts=0\n";
  };
  write_pid_file(*other, stat->start_time + 1);
  auto manager = Manager();
  ASSERT_TRUE(manager->Adopt(Spec("reused", "exec sleep 30")).ok());
  EXPECT_EQ(manager->Query("reused").phase, Phase::kStopped);
  EXPECT_FALSE(fs::exists(state_dir_ / "reused.pid"));

  write_pid_file(*other, stat->start_time + 1);  // Stop and Remove must not kill it either
  auto fresh = Manager();
  ASSERT_TRUE(fresh->Stop("reused").ok());
  write_pid_file(*other, stat->start_time + 1);
  ASSERT_TRUE(fresh->Remove("reused").ok());
  EXPECT_TRUE(Alive(*other));

  write_pid_file(getpid(), 1);  // the test itself
  auto self = Manager();
  ASSERT_TRUE(self->Adopt(Spec("reused", "exec sleep 30")).ok());
  EXPECT_EQ(self->Query("reused").phase, Phase::kStopped);

  write_pid_file(*other, stat->start_time);  // the real start time: adopted
  auto adopting = Manager();
  ASSERT_TRUE(adopting->Adopt(Spec("reused", "exec sleep 30")).ok());
  EXPECT_EQ(adopting->Query("reused").pid, *other);
  EXPECT_EQ(adopting->Query("reused").version, "0.1");
  ASSERT_TRUE(adopting->Stop("reused").ok());
  EXPECT_FALSE(Alive(*other));
  waitpid(*other, nullptr, 0);
}

TEST_F(SupervisorTest, AMalformedOrDeadPidFileIsNotAdopted) {
  fs::create_directories(state_dir_);
  std::ofstream(state_dir_ / "junk.pid") << "pid=banana\n";
  auto manager = Manager();
  ASSERT_TRUE(manager->Adopt(Spec("junk", "exec sleep 30")).ok());
  EXPECT_EQ(manager->Query("junk").phase, Phase::kStopped);
  EXPECT_FALSE(fs::exists(state_dir_ / "junk.pid"));

  // A pid that existed and is gone.
  CommandSpec quick;
  quick.argv = {"/bin/true"};
  Result<pid_t> done = SpawnDetached(quick, dir_ / "true.log");
  ASSERT_TRUE(done.ok());
  std::uint64_t start_time = ReadProcStat(*done)->start_time;
  waitpid(*done, nullptr, 0);
  std::ofstream(state_dir_ / "dead.pid") << "pid=" << *done << "\nstart_time=" << start_time << "\n";
  ASSERT_TRUE(manager->Adopt(Spec("dead", "exec sleep 30")).ok());
  EXPECT_EQ(manager->Query("dead").phase, Phase::kStopped);
}

TEST(ProcProbe, ParsesStatWithAwkwardCommandNames) {
  std::string fields = " S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 200";
  std::optional<ProcStat> stat = ParseProcStat("123 (a) b (c)) d)" + fields);
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->state, 'S');
  EXPECT_EQ(stat->pgrp, 4242);
  EXPECT_EQ(stat->start_time, 987654u);
  EXPECT_FALSE(ParseProcStat("123 (truncated) S 1 2").has_value());
  EXPECT_FALSE(ParseProcStat("no parenthesis").has_value());
  std::optional<ProcStat> self = ReadProcStat(getpid());
  ASSERT_TRUE(self.has_value());
  EXPECT_EQ(self->pgrp, getpgrp());
  EXPECT_FALSE(ReadProcStat(-1).has_value());
}

}  // namespace
}  // namespace topos::agent
