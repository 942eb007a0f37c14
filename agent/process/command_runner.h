// Runs one external program to completion: an argument vector through
// Boost.Process v2 (never a shell unless the spec opts in), in its own process
// group, with a deadline after which the whole group gets SIGTERM and then
// SIGKILL. Output (stdout and stderr merged) is streamed to a sink in chunks
// and its tail kept, bounded.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace topos::agent {

struct RunAsUser {
  uid_t uid = 0;
  gid_t gid = 0;
};

struct CommandSpec {
  // argv[0] is a path (absolute, or relative to working_dir) or a name looked
  // up on PATH. Must not be empty.
  std::vector<std::string> argv;
  // Run `/bin/sh -c "<argv joined by spaces>"`. Only when a manifest says so.
  bool shell = false;
  // Added to (and overriding) the agent's own environment.
  std::vector<std::pair<std::string, std::string>> env;
  std::filesystem::path working_dir;  // empty: the agent's current directory
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  // After SIGTERM to the group, wait this long before SIGKILL.
  std::chrono::milliseconds kill_grace{std::chrono::seconds(5)};
  std::optional<RunAsUser> run_as;
  std::size_t output_tail_bytes = 8 * 1024;  // how much of the end of the output to keep
};

struct CommandResult {
  enum class Outcome { kExited, kKilledBySignal, kTimedOut, kCancelled };
  Outcome outcome = Outcome::kExited;
  int exit_code = -1;        // kExited: the exit status
  int signal = 0;            // kKilledBySignal: the signal
  pid_t pid = 0;             // the child's pid (= its process group id)
  std::string output_tail;   // the last output_tail_bytes of the output
  std::chrono::steady_clock::time_point spawned_at;  // when the child was running
  std::chrono::milliseconds elapsed{0};
  std::chrono::milliseconds timeout{0};  // the spec's timeout, for Describe()

  bool succeeded() const { return outcome == Outcome::kExited && exit_code == 0; }
  // "exited with status 3", "timed out after 5s and was killed",
  // "killed by signal 9", "cancelled".
  std::string Describe() const;
};

// Receives output as it arrives, in chunks of at most 16 KiB.
using OutputSink = std::function<void(std::string_view chunk)>;

// Fails (InvalidArgument / NotFound / FailedPrecondition) only when the program
// cannot be started: empty argv, missing executable, bad working dir. Every
// started program yields a CommandResult, whatever its outcome. When `cancel`
// becomes true the group is terminated as for a timeout (outcome kCancelled).
// After return no process of the group is left running: when the program exits
// normally, background processes it left in its group get SIGTERM and, after
// kill_grace, SIGKILL (the outcome stays the program's own). Killed members
// may linger as zombies until init reaps them; they run nothing. Output
// written by such leftovers is read until the pipe has been quiet for 200 ms
// after the program exited (2 s at most). output_tail_bytes must be > 0. A process that left the group (setsid) is not
// tracked. `sink` is called on the calling thread and must not throw (if it
// does, the group is killed and Internal returned). Thread-safe: concurrent
// calls from different threads are independent.
Result<CommandResult> RunCommand(const CommandSpec& spec, const OutputSink& sink = {},
                                 const std::atomic<bool>* cancel = nullptr);

// Starts a long-running program in a new session (its own process group),
// stdin from /dev/null, stdout and stderr appended to `log_file` (created
// 0640), and returns at once with its pid; spec.timeout is ignored. The
// caller reaps it with waitpid while it is the parent; after the agent exits,
// init does. Fails like RunCommand when the program cannot be started.
Result<pid_t> SpawnDetached(const CommandSpec& spec, const std::filesystem::path& log_file);

// Looks a user name up for run_as. NotFound naming the user if unknown.
Result<RunAsUser> LookUpUser(const std::string& name);

}  // namespace topos::agent
