// How RunCommand supervises a child (one io_context per call, on the calling
// thread):
//  - output: one pipe (O_CLOEXEC in the agent) is the child's stdout and
//    stderr; it is read asynchronously in chunks of at most 16 KiB.
//  - exit: the leader is awaited through its pidfd (process::async_wait).
//  - a 50 ms timer checks the cancel flag, the deadline and the kill grace.
//  - background processes of the group may keep the pipe open after the
//    leader exits, so EOF may never come: once the leader has exited we stop
//    reading when the pipe has been quiet for 200 ms (or 2 s after the exit at
//    the latest).
//  - then, whatever the outcome, any process still in the group gets SIGTERM
//    and, after kill_grace, SIGKILL, so that nothing of the group survives the
//    call. We wait (at most 1 s after SIGKILL) until no live process is left
//    in the group; zombies waiting for init to reap them do not count. A
//    process that left the group (setsid) is out of our reach.
#include "agent/process/command_runner.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include "agent/process/boost_process.h"
#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>

#include "agent/process/launch_plan.h"
#include "agent/process/process_group.h"

namespace topos::agent {
namespace {

namespace asio = boost::asio;
namespace bp = boost::process::v2;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kChunkBytes = 16 * 1024;
constexpr auto kTick = std::chrono::milliseconds(50);
constexpr auto kDrainQuiet = std::chrono::milliseconds(200);
constexpr auto kDrainMax = std::chrono::seconds(2);
constexpr auto kReapWait = std::chrono::seconds(1);

// Runs in the child between fork and exec: only async-signal-safe calls.
// Puts the child in its own process group (or session), gives it default
// signal handling and drops to run_as.
struct ChildSetup {
  bool new_session = false;
  std::optional<RunAsUser> run_as;

  bp::error_code on_exec_setup(bp::posix::default_launcher&, const bp::filesystem::path&,
                               const char* const*) const {
    // A child inherits the agent's signal mask (the agent blocks SIGTERM and
    // SIGINT to take them on a thread of its own) and ignored dispositions:
    // without this reset a service's stop_signal: TERM would never arrive.
    sigset_t none;
    ::sigemptyset(&none);
    if (::sigprocmask(SIG_SETMASK, &none, nullptr) == -1) return LastError();
    ::signal(SIGPIPE, SIG_DFL);
    if ((new_session ? ::setsid() : ::setpgid(0, 0)) == -1) return LastError();
    if (!CloseOnExecAboveStandardStreams()) return LastError();
    if (run_as && (run_as->uid != ::getuid() || run_as->gid != ::getgid())) {
      if (::setgroups(1, &run_as->gid) == -1) return LastError();
      if (::setgid(run_as->gid) == -1) return LastError();
      if (::setuid(run_as->uid) == -1) return LastError();
    }
    return {};
  }
  static bp::error_code LastError() { return {errno, boost::system::system_category()}; }

  // The child keeps only its standard streams. Boost closes the descriptors
  // above its exec-status pipe only (Boost 1.81's close_all skips the gaps
  // below it), so whatever the agent held without O_CLOEXEC would survive
  // the exec: Boost's own status pipe of a spawn running on another thread
  // at this moment is such a descriptor, and a service keeping its write
  // end makes that spawn wait for end-of-file as long as the service runs.
  // Marking rather than closing keeps our own status pipe open until exec.
  static bool CloseOnExecAboveStandardStreams() {
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return true;
    rlimit limit{};  // kernels before 5.11: one descriptor at a time
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
    const rlim_t last = std::min<rlim_t>(limit.rlim_cur, 1u << 20);
    for (rlim_t fd = 3; fd < last; ++fd) {
      const int flags = ::fcntl(static_cast<int>(fd), F_GETFD);
      if (flags >= 0) ::fcntl(static_cast<int>(fd), F_SETFD, flags | FD_CLOEXEC);
    }
    return true;
  }
};

// Sets the child's whole environment ("KEY=VALUE" strings that must outlive
// the launch). Boost 1.81's process_environment::on_setup is defined
// out-of-line in a .ipp that header-only builds do not include, so we set
// launcher.env ourselves.
struct ChildEnvironment {
  explicit ChildEnvironment(const std::vector<std::string>& env) {
    for (const auto& e : env) pointers.push_back(e.c_str());
    pointers.push_back(nullptr);
  }
  bp::error_code on_setup(bp::posix::default_launcher& launcher, const bp::filesystem::path&,
                          const char* const*) {
    launcher.env = pointers.data();
    return {};
  }
  std::vector<const char*> pointers;
};

// Closes a file descriptor on scope exit.
class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Gives up ownership without closing.
  void Release() { fd_ = -1; }

 private:
  int fd_;
};

Status LaunchError(const LaunchPlan& plan, const bp::error_code& ec) {
  std::string what = "cannot start \"" + plan.program + "\" (" + plan.executable.string() +
                     "): " + ec.message();
  if (ec.value() == ENOENT) return Status::NotFound(what);
  return Status::FailedPrecondition(what);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

// The state of one supervised child. Lives on RunCommand's stack; all
// handlers run on the calling thread inside io_context::run.
class Supervisor {
 public:
  using Process = bp::basic_process<asio::io_context::executor_type>;

  Supervisor(asio::io_context& ioc, asio::readable_pipe& pipe, Process& proc,
             const CommandSpec& spec, const OutputSink& sink, const std::atomic<bool>* cancel)
      : ioc_(ioc), pipe_(pipe), proc_(proc), timer_(ioc), spec_(spec), sink_(sink),
        cancel_(cancel), pgid_(proc.id()) {}

  // Runs until the leader is reaped, reading has stopped and the group is
  // gone. Fills `result` (outcome, status, tail).
  void Run(CommandResult& result) {
    started_ = Clock::now();
    deadline_ = started_ + spec_.timeout;
    last_data_ = started_;
    StartRead();
    proc_.async_wait([this](bp::error_code ec, int) {
      if (ec) {
        wait_failed_ = true;  // no pidfd: the timer polls instead
      } else {
        LeaderExited();
      }
      Check();
    });
    ArmTimer();
    ioc_.run();
    int status = proc_.native_exit_code();
    if (WIFEXITED(status)) {
      result.outcome = CommandResult::Outcome::kExited;
      result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result.outcome = CommandResult::Outcome::kKilledBySignal;
      result.signal = WTERMSIG(status);
    }
    if (stop_ == Stop::kTimeout) result.outcome = CommandResult::Outcome::kTimedOut;
    if (stop_ == Stop::kCancel) result.outcome = CommandResult::Outcome::kCancelled;
    result.output_tail = std::move(tail_);
  }

 private:
  enum class Stop { kNone, kTimeout, kCancel };

  void StartRead() {
    pipe_.async_read_some(asio::buffer(buffer_), [this](bp::error_code ec, std::size_t n) {
      if (n > 0) Deliver(std::string_view(buffer_.data(), n));
      if (ec) {
        reading_ = false;
        pipe_.close(ec);
      } else {
        StartRead();
      }
      Check();
    });
  }

  void Deliver(std::string_view chunk) {
    last_data_ = Clock::now();
    if (sink_) sink_(chunk);
    const std::size_t limit = spec_.output_tail_bytes;
    if (chunk.size() >= limit) {
      tail_.assign(chunk.substr(chunk.size() - limit));
    } else {
      tail_.append(chunk);
      if (tail_.size() > limit) tail_.erase(0, tail_.size() - limit);
    }
  }

  void LeaderExited() {
    if (leader_exited_) return;
    leader_exited_ = true;
    leader_exit_at_ = Clock::now();
  }

  void ArmTimer() {
    timer_.expires_after(kTick);
    timer_.async_wait([this](bp::error_code ec) {
      if (ec) return;  // cancelled: we are done
      OnTick();
      Check();
      if (!done_) ArmTimer();
    });
  }

  void OnTick() {
    const auto now = Clock::now();
    if (wait_failed_ && !leader_exited_) {
      bp::error_code ec;
      if (!proc_.running(ec) || ec) LeaderExited();
    }
    if (stop_ == Stop::kNone && !leader_exited_) {
      if (cancel_ != nullptr && cancel_->load()) {
        stop_ = Stop::kCancel;
      } else if (now >= deadline_) {
        stop_ = Stop::kTimeout;
      }
      if (stop_ != Stop::kNone) Terminate();
    }
    if (leader_exited_ && reading_ &&
        (now - last_data_ >= kDrainQuiet || now - leader_exit_at_ >= kDrainMax)) {
      bp::error_code ignored;
      pipe_.cancel(ignored);  // the read handler sees operation_aborted and closes
    }
    if (term_sent_ && !kill_sent_ && now - term_at_ >= spec_.kill_grace) {
      ::kill(-pgid_, SIGKILL);
      kill_sent_ = true;
      kill_at_ = now;
    }
  }

  // Asks the whole group to stop; SIGKILL follows after kill_grace.
  void Terminate() {
    if (term_sent_) return;
    ::kill(-pgid_, SIGTERM);
    term_sent_ = true;
    term_at_ = Clock::now();
  }

  void Check() {
    if (done_ || !leader_exited_ || reading_) return;
    if (ProcessGroupHasLiveMembers(pgid_)) {
      Terminate();  // leftovers of the group, e.g. `sleep 1000 &`
      if (!(kill_sent_ && Clock::now() - kill_at_ >= kReapWait)) return;
    }
    done_ = true;
    timer_.cancel();
    ioc_.stop();
  }

  asio::io_context& ioc_;
  asio::readable_pipe& pipe_;
  Process& proc_;
  asio::steady_timer timer_;
  const CommandSpec& spec_;
  const OutputSink& sink_;
  const std::atomic<bool>* cancel_;
  const pid_t pgid_;

  std::array<char, kChunkBytes> buffer_{};
  std::string tail_;
  Clock::time_point started_, deadline_, last_data_, leader_exit_at_, term_at_, kill_at_;
  bool reading_ = true;
  bool leader_exited_ = false;
  bool wait_failed_ = false;
  bool term_sent_ = false;
  bool kill_sent_ = false;
  bool done_ = false;
  Stop stop_ = Stop::kNone;
};

// If the supervisor throws (a throwing sink), kill and reap the group. As on
// the normal path, wait (at most kReapWait) until no member is alive: a
// member other than the leader, not ours to reap, can still be running for a
// moment after SIGKILL on a busy machine.
class GroupGuard {
 public:
  explicit GroupGuard(pid_t pgid) : pgid_(pgid) {}
  GroupGuard(const GroupGuard&) = delete;
  GroupGuard& operator=(const GroupGuard&) = delete;
  ~GroupGuard() {
    if (pgid_ <= 0) return;
    ::kill(-pgid_, SIGKILL);
    ::waitpid(pgid_, nullptr, 0);
    const auto give_up = std::chrono::steady_clock::now() + kReapWait;
    while (ProcessGroupHasLiveMembers(pgid_) && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  void Release() { pgid_ = 0; }

 private:
  pid_t pgid_;
};

}  // namespace

std::string CommandResult::Describe() const {
  switch (outcome) {
    case Outcome::kExited:
      return "exited with status " + std::to_string(exit_code);
    case Outcome::kKilledBySignal:
      return "killed by signal " + std::to_string(signal);
    case Outcome::kTimedOut:
      return "timed out after " + FormatDuration(timeout) + " and was killed";
    case Outcome::kCancelled:
      return "cancelled";
  }
  return "unknown outcome";
}

Result<CommandResult> RunCommand(const CommandSpec& spec, const OutputSink& sink,
                                 const std::atomic<bool>* cancel) {
  auto plan = MakeLaunchPlan(spec);
  if (!plan.ok()) return plan.status();
  if (spec.output_tail_bytes == 0) {
    return Status::InvalidArgument("output_tail_bytes must be positive");
  }

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Status::Internal(std::string("cannot create output pipe: ") + std::strerror(errno));
  }
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);

  try {
    asio::io_context ioc;
    asio::readable_pipe pipe(ioc);
    bp::error_code ec;
    pipe.assign(read_end.get(), ec);
    if (ec) return Status::Internal("cannot watch output pipe: " + ec.message());
    const int out_fd = write_end.get();
    read_end.Release();  // `pipe` owns it now
    bp::process_stdio stdio{nullptr, out_fd, out_fd};
    ChildEnvironment env(plan->env);
    bp::process_start_dir dir(plan->working_dir);
    ChildSetup setup{false, spec.run_as};

    bp::posix::default_launcher launcher;
    auto proc = launcher(ioc.get_executor(), ec, plan->executable, plan->args, stdio, env, dir,
                         setup);
    write_end.Reset();  // only the child holds the write end now
    if (ec) return LaunchError(*plan, ec);

    GroupGuard guard(proc.id());
    CommandResult result;
    result.pid = proc.id();
    result.timeout = spec.timeout;
    result.spawned_at = Clock::now();
    Supervisor(ioc, pipe, proc, spec, sink, cancel).Run(result);
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        Clock::now() - result.spawned_at);
    guard.Release();
    proc.detach();  // reaped: its pid may be reused, never signal it again
    return result;
  } catch (const std::exception& e) {
    return Status::Internal("running \"" + plan->program + "\": " + e.what());
  }
}

Result<pid_t> SpawnDetached(const CommandSpec& spec, const std::filesystem::path& log_file) {
  auto plan = MakeLaunchPlan(spec);
  if (!plan.ok()) return plan.status();
  UniqueFd log(::open(log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  if (log.get() < 0) {
    int err = errno;
    std::string what = "cannot open log file " + log_file.string() + ": " + std::strerror(err);
    if (err == ENOENT) return Status::NotFound(what);
    return Status::FailedPrecondition(what);
  }
  try {
    asio::io_context ioc;
    bp::process_stdio stdio{nullptr, log.get(), log.get()};
    ChildEnvironment env(plan->env);
    bp::process_start_dir dir(plan->working_dir);
    ChildSetup setup{true, spec.run_as};
    bp::error_code ec;
    bp::posix::default_launcher launcher;
    auto proc = launcher(ioc.get_executor(), ec, plan->executable, plan->args, stdio, env, dir,
                         setup);
    if (ec) return LaunchError(*plan, ec);
    pid_t pid = proc.id();
    proc.detach();  // the destructor must neither kill nor wait for it
    return pid;
  } catch (const std::exception& e) {
    return Status::Internal("starting \"" + plan->program + "\": " + e.what());
  }
}

Result<RunAsUser> LookUpUser(const std::string& name) {
  long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(hint > 0 ? static_cast<std::size_t>(hint) : 16384);
  for (;;) {
    passwd pw{};
    passwd* found = nullptr;
    int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0) {
      return Status::Internal("looking up user \"" + name + "\": " + std::strerror(rc));
    }
    if (found == nullptr) {
      return Status::NotFound("user \"" + name + "\" does not exist on this host");
    }
    return RunAsUser{pw.pw_uid, pw.pw_gid};
  }
}

}  // namespace topos::agent
