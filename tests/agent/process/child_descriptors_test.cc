// What a command or service started by the agent inherits: its standard
// streams and nothing else. A descriptor that leaks into a long-running
// service stays open as long as the service runs; when it is the write end
// of another spawn's exec-status pipe, that spawn waits for end-of-file for
// as long (a start step once hung that way, with three hosts' services
// started at the same moment).
#include "agent/process/command_runner.h"
#include "tests/agent/process/shell_command.h"
#include "tests/support/temp_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace topos::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using namespace std::chrono_literals;
using topos::test_support::TempDir;

// The descriptors /proc lists for `pid`.
std::set<int> OpenDescriptors(pid_t pid) {
  std::set<int> fds;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error)) {
    fds.insert(std::stoi(entry.path().filename().string()));
  }
  return fds;
}

// A service shell that says when it is up and then waits: once its log
// says so, the dynamic loader's transient descriptors are closed and what
// the shell holds is what it inherited.
const CommandSpec kService = Sh("echo started; sleep 30");

// The descriptors of a kService spawned as `pid` with log `log`, once it
// has started; empty if it never says so.
std::set<int> SettledDescriptors(pid_t pid, const fs::path& log) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log);
    std::string line;
    if (std::getline(in, line) && line == "started") return OpenDescriptors(pid);
    std::this_thread::sleep_for(10ms);
  }
  ADD_FAILURE() << "the service (pid " << pid << ") never wrote to " << log;
  return {};
}

void KillAndReap(pid_t pid) {
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// Descriptors the agent holds without close-on-exec, as a library may open
// them: a pipe and a file.
struct InheritableDescriptors {
  InheritableDescriptors() {
    EXPECT_EQ(::pipe(pipe_fds), 0);
    file_fd = ::open("/dev/null", O_RDONLY);
    EXPECT_GE(file_fd, 0);
  }
  ~InheritableDescriptors() {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::close(file_fd);
  }
  int pipe_fds[2] = {-1, -1};
  int file_fd = -1;
};

TEST(ChildDescriptors, AServiceKeepsOnlyItsStandardStreams) {
  InheritableDescriptors held;
  TempDir dir;
  const fs::path log = dir.path() / "service.log";
  auto pid = SpawnDetached(kService, log);
  ASSERT_TRUE(pid.ok()) << pid.status().message();
  const std::set<int> fds = SettledDescriptors(*pid, log);
  KillAndReap(*pid);
  EXPECT_THAT(fds, ElementsAre(0, 1, 2));
}

TEST(ChildDescriptors, ACommandKeepsOnlyItsStandardStreams) {
  InheritableDescriptors held;
  const std::string probe = "for fd in " + std::to_string(held.pipe_fds[0]) + " " +
                            std::to_string(held.pipe_fds[1]) + " " +
                            std::to_string(held.file_fd) +
                            "; do [ -e /proc/$$/fd/$fd ] && echo \"inherited $fd\"; done; true";
  auto result = RunCommand(Sh(probe));
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->succeeded()) << result->Describe();
  EXPECT_EQ(result->output_tail, "");
}

// Services started from several threads at once (steps of different
// services, the supervisor's restarts): every spawn returns, and no child
// holds another spawn's descriptors.
TEST(ChildDescriptors, ConcurrentSpawnsLeakNothingIntoEachOther) {
  constexpr int kThreads = 4;
  constexpr int kSpawnsEach = 12;
  TempDir dir;
  std::vector<std::vector<pid_t>> pids(kThreads);
  std::vector<std::string> errors(kThreads);
  auto log_of = [&](int thread, int spawn) {
    return dir.path() / ("s" + std::to_string(thread) + "-" + std::to_string(spawn) + ".log");
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSpawnsEach; ++i) {
        auto pid = SpawnDetached(kService, log_of(t, i));
        if (!pid.ok()) {
          errors[t] = pid.status().message();
          return;
        }
        pids[t].push_back(*pid);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    for (std::size_t i = 0; i < pids[t].size(); ++i) {
      EXPECT_THAT(SettledDescriptors(pids[t][i], log_of(t, static_cast<int>(i))),
                  ElementsAre(0, 1, 2))
          << "thread " << t << ", spawn " << i;
    }
  }
  for (const auto& list : pids) {
    for (pid_t pid : list) KillAndReap(pid);
  }
}

}  // namespace
}  // namespace topos::agent
