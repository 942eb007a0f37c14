#include "controller/rollout/rollout_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "controller/deploy/deploy_plan.h"
#include "controller/rollout/rollout_codec.h"
#include "controller/rollout/rollout_record.h"

namespace topos::rollout {
namespace {

// How often connectivity is polled (rounds come more often while hosts
// answer; each poll asks the hub about every waiting or running host) and a
// refused store write retried.
constexpr std::chrono::seconds kTick{1};
// A round costs time in proportion to the rollout's size (it stores the
// whole record), so rounds are spaced: after a round that took d, the next
// one waits until kRoundSpacing * d has passed (within the bounds below),
// and whatever arrives meanwhile is applied together in it.
constexpr int kRoundSpacing = 3;
constexpr std::chrono::milliseconds kMinRoundGap{5};
constexpr std::chrono::milliseconds kMaxRoundGap{100};
// A step's outcome may arrive this long after its deadline before the
// deploy gives up on it (the agent cancels at the deadline itself).
constexpr std::chrono::seconds kOutcomeGrace{30};

std::string StepEventKind(v1::StepState state) {
  switch (state) {
    case v1::STEP_SUCCEEDED:
      return "step-succeeded";
    case v1::STEP_PENDING:
      return "step-pending";
    case v1::STEP_CANCELLED:
      return "step-cancelled";
    default:
      return "step-failed";
  }
}

// A step event for the rollout's log from one of a host's step events, or
// nothing for those not worth keeping (output chunks, the closing summary).
std::optional<v1::RolloutEvent> StepEvent(const v1::DeployEvent& event) {
  if (!event.has_step()) return std::nullopt;
  v1::RolloutEvent out;
  out.set_step_kind(event.step().kind());
  out.set_service(event.step().service());
  if (!event.has_update()) {
    if (event.done()) return std::nullopt;
    out.set_kind("step-started");
    out.set_message(event.message());
    return out;
  }
  const v1::StepUpdate& update = event.update();
  if (!controller::IsFinal(update.state())) return std::nullopt;
  out.set_kind(StepEventKind(update.state()));
  const v1::StepResult& result = update.result();
  std::string text = controller::DescribeStep(event.step());
  if (!result.error().empty()) {
    text += ": " + result.error();
  } else if (!result.summary().empty()) {
    text += ": " + result.summary();
  }
  out.set_message(text);
  return out;
}

}  // namespace

Result<std::unique_ptr<RolloutRunner>> RolloutRunner::Load(Services services, v1::Rollout record,
                                                           std::uint64_t last_seq) {
  auto progress = ReadProgress(record);
  if (!progress.ok()) return progress.status();
  return std::unique_ptr<RolloutRunner>(
      new RolloutRunner(services, std::move(record), std::move(*progress), last_seq));
}

RolloutRunner::RolloutRunner(Services services, v1::Rollout record, RolloutProgress progress,
                             std::uint64_t last_seq)
    : services_(services),
      record_(std::move(record)),
      stored_header_(SerializeHeader(record_)),
      progress_(std::move(progress)),
      last_seq_(last_seq),
      done_(record_.done()),
      driver_(services.steps, kOutcomeGrace) {
  IndexHostsLocked();
  // The first write stores every host: a rollout stored before hosts were
  // kept apart has them only inside its old record.
  stored_hosts_.resize(static_cast<std::size_t>(record_.pools_size()));
  for (int p = 0; p < record_.pools_size(); ++p) {
    for (int h = 0; h < record_.pools(p).hosts_size(); ++h) {
      stored_hosts_[p].push_back(record_.pools(p).hosts(h).SerializeAsString());
      changed_hosts_.emplace(p, h);
    }
  }
}

RolloutRunner::~RolloutRunner() { Stop(); }

void RolloutRunner::Start(bool resumed) {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || done_) return;
  if (resumed) {
    reconnect_grace_until_ = std::chrono::steady_clock::now() + kReconnectGrace;
    // Hosts stored as running were started before the restart: resend
    // their steps (same ids; agents answer finished ones from their journals).
    std::map<std::string, Recorded> recorded = RecordedStepsLocked();
    for (const auto& pool : progress_.pools) {
      for (const auto& host : pool.hosts) {
        if (host.phase == HostPhase::kRunning) LaunchLocked(host.host, recorded[host.host]);
      }
    }
  }
  thread_ = std::thread([this] { Loop(); });
}

void RolloutRunner::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Abandons the running hosts: a restarted controller resumes them.
  driver_.Stop();
}

void RolloutRunner::Loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_ && !done_) {
    const auto round_start = std::chrono::steady_clock::now();
    const bool stored = DecideLocked();
    if (done_) break;
    const auto round_end = std::chrono::steady_clock::now();
    auto until = round_end + kTick;
    if (stored && wake_at_) {
      auto wall_wait = *wake_at_ - Clock::now();
      if (wall_wait < kTick) until = round_end + std::max(wall_wait, Clock::duration::zero());
    }
    wake_.wait_until(lock, until, [this] { return stopping_ || !inbox_.empty(); });
    if (stopping_ || inbox_.empty()) continue;
    // Something arrived: let what follows it join the same round.
    const auto gap = std::clamp<std::chrono::steady_clock::duration>(
        kRoundSpacing * (round_end - round_start), kMinRoundGap, kMaxRoundGap);
    wake_.wait_until(lock, std::min(round_end + gap, until), [this] { return stopping_; });
  }
  // Done: no host runs any more, so the driver's thread can go (unlocked:
  // the driver's callbacks take the lock).
  lock.unlock();
  if (done()) driver_.Stop();
}

bool RolloutRunner::DecideLocked() {
  const TimePoint now = Clock::now();
  // Hosts whose agent was waiting or running before this round, and the
  // state: what the connectivity checks and the state change events below
  // compare with (RecordHostResult may already stop the rollout).
  const RunState state_before = progress_.state;
  struct Watched {
    std::string host;
    bool offline;
  };
  std::vector<Watched> watched;
  const auto steady_now = std::chrono::steady_clock::now();
  if (steady_now - connectivity_checked_at_ >= kTick) {
    connectivity_checked_at_ = steady_now;
    for (const auto& pool : progress_.pools) {
      for (const auto& host : pool.hosts) {
        if (host.phase != HostPhase::kWaiting && host.phase != HostPhase::kRunning) continue;
        watched.push_back({host.host, host.offline_since.has_value()});
      }
    }
  }
  std::vector<Happening> inbox;
  inbox.swap(inbox_);
  std::vector<v1::RolloutEvent> events;

  for (auto& happening : inbox) {
    HostSlot slot;
    v1::RolloutHost* host = HostRecordLocked(happening.host, &slot);
    if (!happening.result_ok) {
      if (host != nullptr && happening.step_event.kind() == "step-started") {
        host->set_current_step(happening.step_event.message());
        changed_hosts_.emplace(slot.pool, slot.host);
      }
      happening.step_event.set_host_fqdn(happening.host);
      events.push_back(EventLocked(happening.host, happening.step_event.kind(),
                                   happening.step_event.message()));
      events.back().set_step_kind(happening.step_event.step_kind());
      events.back().set_service(happening.step_event.service());
      continue;
    }
    if (!RecordHostResult(progress_, happening.host, *happening.result_ok, happening.reason, slot)
             .ok()) {
      continue;  // already resolved (timed out while unreachable)
    }
    if (host != nullptr) {
      host->set_current_step("");
      host->set_finished_at_unix_ms(ToUnixMs(now));
      changed_hosts_.emplace(slot.pool, slot.host);
    }
    events.push_back(EventLocked(happening.host, *happening.result_ok ? "host-succeeded" : "host-failed",
                                 *happening.result_ok ? "deployed" : happening.reason));
  }

  for (const Watched& host : watched) {
    const bool connected = services_.hub.Live(host.host).connected;
    if (connected == !host.offline) continue;
    if (!connected && std::chrono::steady_clock::now() < reconnect_grace_until_) continue;
    HostSlot slot;
    HostRecordLocked(host.host, &slot);
    Status recorded = connected ? RecordHostOnline(progress_, host.host, slot)
                                : RecordHostOffline(progress_, host.host, now, slot);
    if (!recorded.ok()) continue;
    events.push_back(EventLocked(host.host, connected ? "host-online" : "host-offline",
                                 connected ? "agent connected" : "agent not connected"));
  }

  // A scheduled rollout (--effective-at) starts no host before its time;
  // paused or aborted meanwhile, the engine decides as usual.
  Decision decision;
  if (progress_.state == RunState::kRunning && BeforeEffectiveTime(record_, now)) {
    decision.progress = std::move(progress_);
    decision.wake_at = FromUnixMs(record_.effective_at_unix_ms());
  } else {
    decision = Next(std::move(progress_), now);
  }
  progress_ = std::move(decision.progress);
  for (const auto& resolved : decision.resolved) {
    events.push_back(EventLocked(resolved.host,
                                 resolved.phase == HostPhase::kSkipped ? "host-skipped" : "host-failed",
                                 resolved.reason));
    if (v1::RolloutHost* host = ChangeHostLocked(resolved.host)) {
      host->set_finished_at_unix_ms(ToUnixMs(now));
    }
  }
  for (const auto& host : decision.start) {
    if (v1::RolloutHost* record = ChangeHostLocked(host)) record->set_started_at_unix_ms(ToUnixMs(now));
    events.push_back(EventLocked(host, "host-started",
                                 record_.kind() == v1::ROLLOUT_CERTIFICATES
                                     ? "certificate renewal started"
                                     : "deploy started"));
  }
  if (progress_.state != state_before) {
    switch (progress_.state) {
      case RunState::kPausedForCanary:
        events.push_back(EventLocked("", "paused", "canaries done; continue with: toposctl rollout resume " + record_.id()));
        break;
      case RunState::kSucceeded:
        events.push_back(EventLocked("", "finished", progress_.stop_reason));
        break;
      case RunState::kFailed: {
        // Rule 9 (every host finished, some failed) is an end, not a stop.
        bool any_waiting = false;
        for (const auto& pool : progress_.pools) {
          for (const auto& host : pool.hosts) any_waiting |= host.phase == HostPhase::kWaiting;
        }
        events.push_back(EventLocked("", any_waiting ? "stopped" : "finished", progress_.stop_reason));
        break;
      }
      default:
        break;
    }
  }
  WriteProgressLocked();
  ShowSchedule(record_, now);
  record_.set_done(decision.done);
  if (decision.done && record_.finished_at_unix_ms() == 0) record_.set_finished_at_unix_ms(ToUnixMs(now));

  // With events the record is stored anyway; without, only if it changed.
  std::string header = SerializeHeader(record_);
  if (!events.empty() || !changed_hosts_.empty() || header != stored_header_) {
    if (!SaveLocked(std::move(header), events)) {
      // Nothing was acted on: put everything back and try again next tick.
      RestoreStoredLocked();
      inbox.insert(inbox.end(), std::make_move_iterator(inbox_.begin()),
                   std::make_move_iterator(inbox_.end()));
      inbox_.swap(inbox);
      return false;
    }
  }
  for (const auto& resolved : decision.resolved) CancelLocked(resolved.host);
  for (const auto& host : decision.start) LaunchLocked(host, Recorded());
  wake_at_ = decision.wake_at;
  done_ = decision.done;
  return true;
}

bool RolloutRunner::SaveLocked(std::string header, std::vector<v1::RolloutEvent>& events) {
  controller::RolloutRecord stored;
  stored.id = record_.id();
  stored.state = record_.state();
  stored.done = record_.done();
  stored.created_at = FromUnixMs(record_.created_at_unix_ms());
  stored.snapshot = std::move(header);
  for (const auto& [pool, position] : changed_hosts_) {
    stored.hosts.push_back(HostRecord(record_, pool, position));
  }
  std::vector<controller::RolloutEventRecord> rows;
  std::uint64_t seq = last_seq_;
  for (auto& event : events) {
    event.set_seq(++seq);
    rows.push_back({seq, event.SerializeAsString()});
  }
  Status status = services_.store.SaveRollout(stored, rows);
  if (!status.ok()) {
    spdlog::error("rollout {}: cannot store its state, retrying: {}", record_.id(), status.message());
    return false;
  }
  last_seq_ = seq;
  stored_header_ = std::move(stored.snapshot);
  for (auto& host : stored.hosts) stored_hosts_[host.pool][host.position] = std::move(host.host);
  changed_hosts_.clear();
  changed_.notify_all();
  return true;
}

void RolloutRunner::RestoreStoredLocked() {
  std::vector<controller::RolloutHostRecord> hosts;
  for (std::size_t p = 0; p < stored_hosts_.size(); ++p) {
    for (std::size_t h = 0; h < stored_hosts_[p].size(); ++h) {
      hosts.push_back({static_cast<int>(p), static_cast<int>(h), stored_hosts_[p][h]});
    }
  }
  auto assembled = AssembleRollout(stored_header_, hosts);
  if (!assembled.ok()) {
    spdlog::critical("rollout {}: its last stored record does not read back: {}", record_.id(),
                     assembled.status().message());
    std::abort();
  }
  v1::Rollout stored = std::move(*assembled);
  auto progress = ReadProgress(stored);
  if (!progress.ok()) {
    spdlog::critical("rollout {}: its last stored record does not read back: {}", record_.id(),
                     progress.status().message());
    std::abort();
  }
  record_ = std::move(stored);
  progress_ = std::move(*progress);
  // changed_hosts_ stays: the hosts in it are stored again with the next
  // write, which is harmless for those now back as stored and needed for
  // those never stored apart (the first write after Load).
  IndexHostsLocked();
}

void RolloutRunner::WriteProgressLocked() {
  std::vector<std::pair<int, int>> changed;
  WriteProgress(progress_, record_, &changed);
  changed_hosts_.insert(changed.begin(), changed.end());
}

void RolloutRunner::IndexHostsLocked() {
  host_index_.clear();
  for (int p = 0; p < record_.pools_size(); ++p) {
    const v1::RolloutPool& pool = record_.pools(p);
    for (int h = 0; h < pool.hosts_size(); ++h) host_index_[pool.hosts(h).host_fqdn()] = {p, h};
  }
}

v1::RolloutEvent RolloutRunner::EventLocked(const std::string& host, std::string kind,
                                            std::string message) {
  v1::RolloutEvent event;
  event.set_rollout_id(record_.id());
  event.set_at_unix_ms(ToUnixMs(Clock::now()));
  event.set_host_fqdn(host);
  event.set_kind(std::move(kind));
  event.set_message(std::move(message));
  return event;
}

v1::RolloutHost* RolloutRunner::HostRecordLocked(const std::string& host, HostSlot* slot) {
  auto found = [&]() -> v1::RolloutHost* {
    auto it = host_index_.find(host);
    if (it == host_index_.end()) return nullptr;
    const auto [p, h] = it->second;
    if (p >= record_.pools_size() || h >= record_.pools(p).hosts_size()) return nullptr;
    v1::RolloutHost* entry = record_.mutable_pools(p)->mutable_hosts(h);
    if (entry->host_fqdn() != host) return nullptr;
    if (slot != nullptr) *slot = it->second;
    return entry;
  };
  if (v1::RolloutHost* entry = found()) return entry;
  // The record's pools were (re)built since the index was: index again.
  IndexHostsLocked();
  return found();
}

v1::RolloutHost* RolloutRunner::ChangeHostLocked(const std::string& host) {
  HostSlot slot;
  v1::RolloutHost* entry = HostRecordLocked(host, &slot);
  if (entry != nullptr) changed_hosts_.emplace(slot.pool, slot.host);
  return entry;
}

std::map<std::string, RolloutRunner::Recorded> RolloutRunner::RecordedStepsLocked() {
  std::map<std::string, Recorded> recorded;
  constexpr std::size_t kPage = 1000;
  std::uint64_t after = 0;
  for (;;) {
    auto rows = services_.store.ListRolloutEvents(record_.id(), after, kPage);
    if (!rows.ok() || rows->empty()) break;
    for (const auto& row : *rows) {
      after = row.seq;
      v1::RolloutEvent event;
      if (!event.ParseFromString(row.event)) continue;
      if (event.kind() == "host-started") recorded[event.host_fqdn()] = {};
      if (event.kind() == "step-started") ++recorded[event.host_fqdn()].started;
      if (event.kind() == "step-succeeded") ++recorded[event.host_fqdn()].finished;
    }
  }
  return recorded;
}

void RolloutRunner::LaunchLocked(const std::string& host, Recorded recorded) {
  if (deploying_.contains(host)) return;
  std::vector<v1::RunStep> steps;
  std::string problem;
  auto stored = services_.store.GetRolloutHostSteps(record_.id(), host);
  v1::RolloutHostSteps parsed;
  if (!stored.ok()) {
    problem = "its planned steps are not stored: " + stored.status().message();
  } else if (!parsed.ParseFromString(*stored)) {
    problem = "its stored steps are unreadable";
  } else {
    steps.assign(parsed.steps().begin(), parsed.steps().end());
  }
  if (!problem.empty()) {
    inbox_.push_back({host, false, problem, {}});
    wake_.notify_all();
    return;
  }
  if (recorded.started > 0) {
    Happening resumed{host, std::nullopt, "", {}};
    resumed.step_event.set_kind("host-resumed");
    resumed.step_event.set_message(
        "steps sent again after a controller restart; " + std::to_string(recorded.finished) + " of " +
        std::to_string(steps.size()) + " had finished and are answered from the agent's journal");
    inbox_.push_back(std::move(resumed));
  }
  // What the host's events have said so far; the sink and the done
  // callback both run on the driver's thread.
  struct Seen {
    std::string reason;
    Recorded counted;
  };
  auto seen = std::make_shared<Seen>();
  auto sink = [this, host, seen, recorded](v1::DeployEvent event) {
    auto step_event = StepEvent(event);
    // The failed step's own error says more than the summary.
    if (event.done() && seen->reason.empty()) seen->reason = event.message();
    if (step_event && step_event->kind() != "step-started" && step_event->kind() != "step-succeeded") {
      seen->reason = step_event->message();
    }
    if (!step_event) return;
    // Skip what was stored before the restart.
    if (step_event->kind() == "step-started") {
      if (++seen->counted.started <= recorded.started) return;
    } else if (++seen->counted.finished <= recorded.finished) {
      return;
    }
    std::lock_guard lock(mutex_);
    inbox_.push_back({host, std::nullopt, "", std::move(*step_event)});
    wake_.notify_all();
  };
  auto done = [this, host, seen](bool ok) {
    std::lock_guard lock(mutex_);
    inbox_.push_back({host, ok, ok ? "" : seen->reason, {}});
    deploying_.erase(host);
    wake_.notify_all();
  };
  deploying_.insert(host);
  driver_.Start(host, std::move(steps), std::move(sink), std::move(done));
}

void RolloutRunner::CancelLocked(const std::string& host) {
  if (deploying_.contains(host)) driver_.Cancel(host);
}

Result<v1::Rollout> RolloutRunner::Control(const v1::ControlRolloutRequest& request,
                                           const std::string& actor) {
  std::lock_guard lock(mutex_);
  Result<RolloutProgress> next = Status::InvalidArgument("the action must be pause, resume or abort");
  std::string kind;
  std::string message;
  switch (request.action()) {
    case v1::ROLLOUT_PAUSE:
      next = Pause(progress_);
      kind = "paused";
      message = "paused by " + actor;
      break;
    case v1::ROLLOUT_RESUME:
      next = Resume(progress_);
      kind = "resumed";
      message = "resumed by " + actor;
      break;
    case v1::ROLLOUT_ABORT:
      message = "aborted by " + actor + (request.reason().empty() ? "" : ": " + request.reason());
      next = Abort(progress_, message);
      kind = "aborted";
      if (request.cancel_running()) message += " (cancelling running hosts' steps)";
      break;
    default:
      break;
  }
  if (!next.ok()) return next.status();
  if (stopping_) return Status::Unavailable("the controller is shutting down");
  progress_ = std::move(*next);
  WriteProgressLocked();
  ShowSchedule(record_, Clock::now());
  std::vector<v1::RolloutEvent> events{EventLocked("", kind, message)};
  if (!SaveLocked(SerializeHeader(record_), events)) {
    RestoreStoredLocked();
    return Status::Unavailable("could not store the change; try again");
  }
  if (request.action() == v1::ROLLOUT_ABORT && request.cancel_running()) {
    for (const auto& host : deploying_) driver_.Cancel(host);
  }
  wake_.notify_all();
  return record_;
}

v1::Rollout RolloutRunner::Snapshot() const {
  std::lock_guard lock(mutex_);
  return record_;
}

std::uint64_t RolloutRunner::last_seq() const {
  std::lock_guard lock(mutex_);
  return last_seq_;
}

bool RolloutRunner::done() const {
  std::lock_guard lock(mutex_);
  return done_;
}

std::vector<std::string> RolloutRunner::BusyHosts() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> hosts;
  if (done_) return hosts;
  for (const auto& pool : progress_.pools) {
    for (const auto& host : pool.hosts) hosts.push_back(host.host);
  }
  return hosts;
}

void RolloutRunner::WaitAfter(std::uint64_t seq, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return last_seq_ > seq || done_ || stopping_; });
}

}  // namespace topos::rollout
