// Runs the built topos-pchat binary as the agent would, for the example
// tests: environment in, stdout and stderr to files, signals, exit status.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/temp_dir.h"

extern char** environ;

namespace topos::pchat_test {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr auto kDeadline = std::chrono::seconds(5);

inline std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

using topos::test_support::TempDir;

// The running binary, stdout and stderr in files; killed if still running at
// destruction.
class PchatProcess {
 public:
  PchatProcess(const std::filesystem::path& dir,
               const std::vector<std::pair<std::string, std::string>>& env)
      : out_(dir / "stdout.log"), err_(dir / "stderr.log") {
    std::vector<std::string> entries;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry = *e;
      if (entry.rfind("TOPOS_", 0) != 0) entries.push_back(entry);  // only ours
    }
    for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (std::string& entry : entries) envp.push_back(entry.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::string binary = TOPOS_PCHAT_BINARY;
    char* argv[] = {binary.data(), nullptr};
    if (posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv, envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~PchatProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  bool started() const { return pid_ > 0; }
  void Signal(int signal) const { kill(pid_, signal); }
  // True while the process has not exited.
  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
    pid_ = -1;
    return false;
  }

  // The exit status once the process exits within `kDeadline`; nullopt if it
  // did not (or was killed by a signal: -signal).
  std::optional<int> WaitExit() {
    const auto deadline = steady_clock::now() + kDeadline;
    while (steady_clock::now() < deadline) {
      int status = 0;
      pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        pid_ = -1;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        return -WTERMSIG(status);
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    return std::nullopt;
  }

  // The port from the start line ("... listening on https://127.0.0.1:N ..."),
  // 0 if it does not appear in time or the process exits first.
  int WaitForPort() {
    static const std::regex kLine("listening on https://[^:]+:([0-9]+)");
    const auto deadline = steady_clock::now() + kDeadline;
    while (steady_clock::now() < deadline) {
      std::smatch match;
      std::string text = ReadText(out_);
      if (std::regex_search(text, match, kLine)) return std::stoi(match[1]);
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return 0;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    return 0;
  }

  std::string Stdout() const { return ReadText(out_); }
  std::string Stderr() const { return ReadText(err_); }

 private:
  std::filesystem::path out_;
  std::filesystem::path err_;
  pid_t pid_ = -1;
};

}  // namespace topos::pchat_test
