#include "agent/process/command_runner.h"
#include "tests/agent/process/shell_command.h"
#include "tests/support/temp_dir.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace topos::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

using topos::test_support::TempDir;

CommandResult MustRun(const CommandSpec& spec, const OutputSink& sink = {},
                      const std::atomic<bool>* cancel = nullptr) {
  auto r = RunCommand(spec, sink, cancel);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : CommandResult{};
}

// Processes of group `pgid` that are not zombies, from /proc.
std::vector<std::string> LiveMembers(pid_t pgid) {
  std::vector<std::string> live;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 2));
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (!(fields >> state >> ppid >> pgrp)) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') live.push_back(stat);
  }
  return live;
}

// The contract: on return nothing of the group runs any more (checked at
// once), and the group disappears as soon as init has reaped the zombies
// (polled: init reaps on its own schedule).
::testing::AssertionResult GroupGone(pid_t pgid) {
  auto live = LiveMembers(pgid);
  if (!live.empty()) {
    return ::testing::AssertionFailure() << live.size() << " live process(es) of group " << pgid
                                         << " remain, e.g. " << live[0];
  }
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!(::kill(-pgid, 0) == -1 && errno == ESRCH)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return ::testing::AssertionFailure() << "kill(-" << pgid << ", 0) still succeeds after 5s";
    }
    std::this_thread::sleep_for(20ms);
  }
  return ::testing::AssertionSuccess();
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(CommandRunner, ReportsExitStatus) {
  CommandResult ok = MustRun(Sh("exit 0"));
  EXPECT_TRUE(ok.succeeded());
  EXPECT_EQ(ok.Describe(), "exited with status 0");
  EXPECT_GT(ok.pid, 0);

  CommandResult three = MustRun(Sh("exit 3"));
  EXPECT_EQ(three.outcome, CommandResult::Outcome::kExited);
  EXPECT_EQ(three.exit_code, 3);
  EXPECT_FALSE(three.succeeded());
  EXPECT_EQ(three.Describe(), "exited with status 3");
}

TEST(CommandRunner, ReportsDeathBySignal) {
  CommandResult r = MustRun(Sh("kill -9 $$"));
  EXPECT_EQ(r.outcome, CommandResult::Outcome::kKilledBySignal);
  EXPECT_EQ(r.signal, 9);
  EXPECT_FALSE(r.succeeded());
  EXPECT_EQ(r.Describe(), "killed by signal 9");
}

// The agent blocks SIGTERM and SIGINT (a thread of its own takes them) and
// may ignore SIGPIPE; a service must not inherit either, or its
// stop_signal would never reach it.
TEST(CommandRunner, ChildStartsWithNoBlockedOrIgnoredSignals) {
  sigset_t blocked, previous;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &blocked, &previous), 0);
  auto previous_pipe = ::signal(SIGPIPE, SIG_IGN);
  CommandResult r = MustRun(Sh("exec grep -E '^Sig(Blk|Ign):' /proc/self/status"));
  CommandResult term = MustRun(Sh("kill -TERM $$; sleep 5"));
  ::signal(SIGPIPE, previous_pipe);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  EXPECT_THAT(r.output_tail, HasSubstr("SigBlk:\t0000000000000000"));
  EXPECT_THAT(r.output_tail, HasSubstr("SigIgn:\t0000000000000000"));
  EXPECT_EQ(term.outcome, CommandResult::Outcome::kKilledBySignal);
  EXPECT_EQ(term.signal, SIGTERM);
}

TEST(CommandRunner, PassesAndOverridesEnvironment) {
  ::setenv("TOPOS_TEST_INHERITED", "from-agent", 1);
  ::setenv("TOPOS_TEST_OVERRIDDEN", "from-agent", 1);
  CommandSpec spec = Sh("echo \"$TOPOS_TEST_INHERITED,$TOPOS_TEST_OVERRIDDEN,$TOPOS_TEST_NEW\"");
  spec.env = {{"TOPOS_TEST_OVERRIDDEN", "from-spec"}, {"TOPOS_TEST_NEW", "new value"}};
  CommandResult r = MustRun(spec);
  EXPECT_EQ(r.output_tail, "from-agent,from-spec,new value\n");
  ::unsetenv("TOPOS_TEST_INHERITED");
  ::unsetenv("TOPOS_TEST_OVERRIDDEN");
}

TEST(CommandRunner, RejectsMalformedEnvironmentName) {
  CommandSpec spec = Sh("true");
  spec.env = {{"A=B", "x"}};
  auto r = RunCommand(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("A=B"));
}

TEST(CommandRunner, RunsInWorkingDirectoryAndResolvesRelativeProgram) {
  TempDir dir;
  fs::create_directory(dir.path() / "bin");
  fs::path script = dir.path() / "bin" / "hook.sh";
  std::ofstream(script) << "#!/bin/sh\npwd\n";
  fs::permissions(script, fs::perms::owner_all);

  CommandSpec spec;
  spec.argv = {"bin/hook.sh"};
  spec.working_dir = dir.path();
  CommandResult r = MustRun(spec);
  EXPECT_TRUE(r.succeeded()) << r.Describe();
  EXPECT_EQ(r.output_tail, dir.path().string() + "\n");
}

TEST(CommandRunner, MissingWorkingDirectoryIsAnError) {
  CommandSpec spec = Sh("true");
  spec.working_dir = "/nonexistent/topos/dir";
  auto r = RunCommand(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("/nonexistent/topos/dir"));
}

TEST(CommandRunner, MissingOrBadProgramIsAClearError) {
  CommandSpec spec;
  spec.argv = {"topos-no-such-program", "arg"};
  auto on_path = RunCommand(spec);
  ASSERT_FALSE(on_path.ok());
  EXPECT_EQ(on_path.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(on_path.status().message(), HasSubstr("\"topos-no-such-program\""));
  EXPECT_THAT(on_path.status().message(), HasSubstr("PATH"));

  spec.argv = {"/nonexistent/topos-prog"};
  auto by_path = RunCommand(spec);
  ASSERT_FALSE(by_path.ok());
  EXPECT_EQ(by_path.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(by_path.status().message(), HasSubstr("/nonexistent/topos-prog"));

  TempDir dir;
  std::ofstream(dir.path() / "data.txt") << "not a program\n";
  fs::permissions(dir.path() / "data.txt", fs::perms::owner_read | fs::perms::owner_write);
  spec.argv = {"./data.txt"};
  spec.working_dir = dir.path();
  auto not_exec = RunCommand(spec);
  ASSERT_FALSE(not_exec.ok());
  EXPECT_EQ(not_exec.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(not_exec.status().message(), HasSubstr("not an executable"));

  spec.argv = {};
  auto empty = RunCommand(spec);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), Status::Code::kInvalidArgument);
}

TEST(CommandRunner, StreamsOutputInOrderInBoundedChunksAndKeepsTail) {
  std::string expected;
  for (int i = 1; i <= 20000; ++i) expected += std::to_string(i) + "\n";
  CommandSpec spec;
  spec.argv = {"seq", "1", "20000"};
  spec.output_tail_bytes = 100;
  std::string streamed;
  std::size_t biggest = 0;
  CommandResult r = MustRun(spec, [&](std::string_view chunk) {
    biggest = std::max(biggest, chunk.size());
    streamed.append(chunk);
  });
  EXPECT_TRUE(r.succeeded()) << r.Describe();
  EXPECT_EQ(streamed, expected);
  EXPECT_LE(biggest, 16u * 1024);
  EXPECT_EQ(r.output_tail, expected.substr(expected.size() - 100));
}

TEST(CommandRunner, MergesStderrIntoOutput) {
  CommandResult r = MustRun(Sh("echo out; echo err >&2"));
  EXPECT_EQ(r.output_tail, "out\nerr\n");
}

TEST(CommandRunner, WithoutShellArgumentsAreLiteral) {
  CommandSpec spec;
  spec.argv = {"echo", "$HOME;echo x"};
  spec.env = {{"HOME", "/home/topos-test"}};
  CommandResult r = MustRun(spec);
  EXPECT_EQ(r.output_tail, "$HOME;echo x\n");
}

TEST(CommandRunner, WithShellArgumentsAreInterpreted) {
  CommandSpec spec;
  spec.argv = {"echo", "$HOME;echo", "x"};
  spec.shell = true;
  spec.env = {{"HOME", "/home/topos-test"}};
  CommandResult r = MustRun(spec);
  EXPECT_EQ(r.output_tail, "/home/topos-test\nx\n");
}

TEST(CommandRunner, TimeoutKillsWholeGroupIncludingBackgroundChildren) {
  CommandSpec spec = Sh("sleep 1000 & sleep 1000");
  spec.timeout = 300ms;
  spec.kill_grace = 500ms;
  const auto start = std::chrono::steady_clock::now();
  CommandResult r = MustRun(spec);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.outcome, CommandResult::Outcome::kTimedOut);
  EXPECT_EQ(r.Describe(), "timed out after 300ms and was killed");
  EXPECT_LT(took, spec.timeout + spec.kill_grace + 1500ms);
  EXPECT_GE(took, spec.timeout);
  EXPECT_TRUE(GroupGone(r.pid));
}

TEST(CommandRunner, TimeoutEscalatesToSigkillWhenTermIsIgnored) {
  // Ignored signals stay ignored across fork and exec: the whole group
  // ignores SIGTERM, so only SIGKILL after the grace period ends it.
  CommandSpec spec = Sh("trap '' TERM; sleep 1000 & sleep 1000");
  spec.timeout = 200ms;
  spec.kill_grace = 400ms;
  const auto start = std::chrono::steady_clock::now();
  CommandResult r = MustRun(spec);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.outcome, CommandResult::Outcome::kTimedOut);
  EXPECT_GE(took, spec.timeout + spec.kill_grace);
  EXPECT_LT(took, spec.timeout + spec.kill_grace + 1500ms);
  EXPECT_TRUE(GroupGone(r.pid));
}

TEST(CommandRunner, NormalExitStillRemovesLeftoverGroupMembers) {
  // The background child keeps the output pipe open: the runner must not
  // wait for EOF forever, and must not leave the child running.
  CommandSpec spec = Sh("sleep 1000 & echo done");
  spec.kill_grace = 500ms;
  const auto start = std::chrono::steady_clock::now();
  CommandResult r = MustRun(spec);
  EXPECT_TRUE(r.succeeded()) << r.Describe();
  EXPECT_EQ(r.output_tail, "done\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(GroupGone(r.pid));

  CommandResult detached_output = MustRun(Sh("sleep 1000 >/dev/null 2>&1 & exit 4"));
  EXPECT_EQ(detached_output.exit_code, 4);
  EXPECT_TRUE(GroupGone(detached_output.pid));
}

TEST(CommandRunner, CancelFlagTerminatesGroup) {
  std::atomic<bool> cancel{false};
  CommandSpec spec = Sh("echo started; sleep 1000 & sleep 1000");
  spec.kill_grace = 500ms;
  const auto start = std::chrono::steady_clock::now();
  CommandResult r = MustRun(spec, [&](std::string_view) { cancel = true; }, &cancel);
  EXPECT_EQ(r.outcome, CommandResult::Outcome::kCancelled);
  EXPECT_EQ(r.Describe(), "cancelled");
  EXPECT_EQ(r.output_tail, "started\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_TRUE(GroupGone(r.pid));
}

TEST(CommandRunner, ThrowingSinkKillsGroupAndReportsInternal) {
  pid_t pgid = 0;
  CommandSpec spec = Sh("echo $$; sleep 1000");
  auto r = RunCommand(spec, [&](std::string_view chunk) {
    pgid = std::stoi(std::string(chunk));
    throw std::runtime_error("sink broke");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInternal);
  EXPECT_THAT(r.status().message(), HasSubstr("sink broke"));
  ASSERT_GT(pgid, 0);
  EXPECT_TRUE(GroupGone(pgid));
}

TEST(CommandRunner, ConcurrentRunsAreIndependent) {
  constexpr int kRuns = 6;
  std::vector<std::thread> threads;
  std::vector<CommandResult> results(kRuns);
  for (int i = 0; i < kRuns; ++i) {
    threads.emplace_back([i, &results] {
      auto r = RunCommand(Sh("echo run" + std::to_string(i) + "; exit " + std::to_string(i)));
      if (r.ok()) results[i] = *r;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRuns; ++i) {
    EXPECT_EQ(results[i].outcome, CommandResult::Outcome::kExited);
    EXPECT_EQ(results[i].exit_code, i);
    EXPECT_EQ(results[i].output_tail, "run" + std::to_string(i) + "\n");
  }
}

TEST(CommandRunner, RunsAsAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  auto nobody = LookUpUser("nobody");
  ASSERT_TRUE(nobody.ok()) << nobody.status().message();
  CommandSpec spec = Sh("id -u; id -g; id -G");
  spec.run_as = *nobody;
  CommandResult r = MustRun(spec);
  EXPECT_TRUE(r.succeeded()) << r.Describe() << r.output_tail;
  std::string gid = std::to_string(nobody->gid);
  EXPECT_EQ(r.output_tail, std::to_string(nobody->uid) + "\n" + gid + "\n" + gid + "\n");
}

TEST(CommandRunner, LooksUpUsers) {
  auto root = LookUpUser("root");
  ASSERT_TRUE(root.ok()) << root.status().message();
  EXPECT_EQ(root->uid, 0u);
  EXPECT_EQ(root->gid, 0u);
  auto missing = LookUpUser("topos-no-such-user");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("topos-no-such-user"));
}

TEST(SpawnDetached, AppendsToLogInOwnSession) {
  TempDir dir;
  fs::path log = dir.path() / "service.log";
  std::ofstream(log) << "earlier\n";
  CommandSpec spec = Sh("echo hello-out; echo hello-err >&2; exec sleep 1000");
  auto pid = SpawnDetached(spec, log);
  ASSERT_TRUE(pid.ok()) << pid.status().message();
  EXPECT_EQ(::getpgid(*pid), *pid);
  EXPECT_EQ(::getsid(*pid), *pid);

  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::string content;
  while (std::chrono::steady_clock::now() < deadline) {
    content = ReadFile(log);
    if (content.find("hello-err") != std::string::npos) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(content.rfind("earlier\n", 0), 0u) << content;
  EXPECT_THAT(content, HasSubstr("hello-out\n"));
  EXPECT_THAT(content, HasSubstr("hello-err\n"));

  // Still running: the spawner did not kill it on return.
  EXPECT_EQ(::waitpid(*pid, nullptr, WNOHANG), 0);
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFSIGNALED(status));
}

TEST(SpawnDetached, CreatesLogWithRestrictedMode) {
  TempDir dir;
  fs::path log = dir.path() / "new.log";
  auto pid = SpawnDetached(Sh("echo hi"), log);
  ASSERT_TRUE(pid.ok()) << pid.status().message();
  int status = 0;
  ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  struct stat st {};
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0137, 0u) << std::oct << st.st_mode;
  EXPECT_EQ(ReadFile(log), "hi\n");
}

TEST(SpawnDetached, FailsLikeRunCommandWhenProgramIsMissing) {
  TempDir dir;
  CommandSpec spec;
  spec.argv = {"topos-no-such-daemon"};
  auto pid = SpawnDetached(spec, dir.path() / "x.log");
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(pid.status().message(), HasSubstr("topos-no-such-daemon"));
}

}  // namespace
}  // namespace topos::agent
