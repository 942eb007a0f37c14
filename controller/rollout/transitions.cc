// The event transitions of engine.h (rules 8 and 10) and the names of
// progress.h.
#include <utility>

#include "controller/rollout/engine.h"
#include "controller/rollout/failure_rules.h"

namespace topos::rollout {
namespace {

HostProgress* FindHost(RolloutProgress& p, std::string_view host, HostSlot slot) {
  if (slot.pool >= 0 && static_cast<std::size_t>(slot.pool) < p.pools.size()) {
    std::vector<HostProgress>& hosts = p.pools[slot.pool].hosts;
    if (slot.host >= 0 && static_cast<std::size_t>(slot.host) < hosts.size() &&
        hosts[slot.host].host == host) {
      return &hosts[slot.host];
    }
  }
  for (PoolProgress& pool : p.pools) {
    for (HostProgress& h : pool.hosts) {
      if (h.host == host) return &h;
    }
  }
  return nullptr;
}

Status NoSuchHost(std::string_view host) {
  return Status::NotFound("host " + std::string(host) + " is not part of this rollout");
}

Status WrongState(const RolloutProgress& p, std::string_view action, std::string_view needs) {
  std::string text = "cannot " + std::string(action) + " a rollout that is " +
                     std::string(RunStateName(p.state)) + " (" + std::string(needs) + ")";
  if (IsFinal(p.state) && !p.stop_reason.empty()) text += ": " + p.stop_reason;
  return Status::FailedPrecondition(text);
}

}  // namespace

std::string_view HostPhaseName(HostPhase phase) {
  switch (phase) {
    case HostPhase::kWaiting:
      return "waiting";
    case HostPhase::kRunning:
      return "running";
    case HostPhase::kSucceeded:
      return "succeeded";
    case HostPhase::kFailed:
      return "failed";
    case HostPhase::kSkipped:
      return "skipped";
  }
  return "unknown";
}

std::string_view RunStateName(RunState state) {
  switch (state) {
    case RunState::kRunning:
      return "running";
    case RunState::kPausedForCanary:
      return "paused-for-canary";
    case RunState::kPaused:
      return "paused";
    case RunState::kAborted:
      return "aborted";
    case RunState::kFailed:
      return "failed";
    case RunState::kSucceeded:
      return "succeeded";
  }
  return "unknown";
}

bool IsFinal(RunState state) {
  return state == RunState::kAborted || state == RunState::kFailed || state == RunState::kSucceeded;
}

Status RecordHostResult(RolloutProgress& p, std::string_view host, bool ok, std::string reason,
                        HostSlot slot) {
  HostProgress* h = FindHost(p, host, slot);
  if (h == nullptr) return NoSuchHost(host);
  if (h->phase != HostPhase::kRunning) {
    return Status::FailedPrecondition("host " + h->host + " is not running (it is " +
                                      std::string(HostPhaseName(h->phase)) +
                                      "); its outcome is not recorded");
  }
  h->phase = ok ? HostPhase::kSucceeded : HostPhase::kFailed;
  h->reason = ok ? std::string() : std::move(reason);
  // A success adds an attempt and no failure, so it cannot break a rule
  // that held; checking would cost O(hosts) per result.
  if (!ok && !IsFinal(p.state)) {
    if (std::optional<std::string> broken = BrokenFailureRule(p)) {
      p.state = RunState::kFailed;
      p.stop_reason = *broken;
    }
  }
  return Status::Ok();
}

Status RecordHostOffline(RolloutProgress& p, std::string_view host, TimePoint now,
                         HostSlot slot) {
  HostProgress* h = FindHost(p, host, slot);
  if (h == nullptr) return NoSuchHost(host);
  const bool active = h->phase == HostPhase::kWaiting || h->phase == HostPhase::kRunning;
  if (active && !h->offline_since) h->offline_since = now;
  return Status::Ok();
}

Status RecordHostOnline(RolloutProgress& p, std::string_view host, HostSlot slot) {
  HostProgress* h = FindHost(p, host, slot);
  if (h == nullptr) return NoSuchHost(host);
  h->offline_since.reset();
  return Status::Ok();
}

Result<RolloutProgress> Pause(const RolloutProgress& progress) {
  if (progress.state != RunState::kRunning && progress.state != RunState::kPausedForCanary) {
    return WrongState(progress, "pause", "only a running rollout can be paused");
  }
  RolloutProgress p = progress;
  p.state = RunState::kPaused;
  p.stop_reason = "paused by the operator: run `rollout resume` to continue";
  return p;
}

Result<RolloutProgress> Resume(const RolloutProgress& progress) {
  if (progress.state != RunState::kPaused && progress.state != RunState::kPausedForCanary) {
    return WrongState(progress, "resume", "only a paused rollout can be resumed");
  }
  RolloutProgress p = progress;
  p.state = RunState::kRunning;
  p.stop_reason.clear();
  for (PoolProgress& pool : p.pools) {
    bool canaries_finished = true;
    for (const HostProgress& h : pool.hosts) {
      if (h.canary && (h.phase == HostPhase::kWaiting || h.phase == HostPhase::kRunning)) {
        canaries_finished = false;
      }
    }
    if (canaries_finished) pool.canary_released = true;
  }
  return p;
}

Result<RolloutProgress> Abort(const RolloutProgress& progress, std::string reason) {
  if (IsFinal(progress.state)) {
    return WrongState(progress, "abort", "it has already stopped");
  }
  RolloutProgress p = progress;
  p.state = RunState::kAborted;
  p.stop_reason = "aborted by the operator" + (reason.empty() ? std::string() : ": " + reason);
  return p;
}

Status CheckHostsFree(const RolloutProgress& rollout,
                      const std::map<std::string, std::string, std::less<>>& busy) {
  for (const PoolProgress& pool : rollout.pools) {
    for (const HostProgress& h : pool.hosts) {
      auto it = busy.find(h.host);
      if (it == busy.end()) continue;
      return Status::FailedPrecondition(
          "host " + h.host + " is in rollout " + it->second +
          ", which has not finished (one rollout at a time per host: wait for it, or abort it)");
    }
  }
  return Status::Ok();
}

}  // namespace topos::rollout
