// NewRollout and Next (rules 1 to 9 of engine.h). The event transitions are
// in transitions.cc.
#include "controller/rollout/engine.h"

#include <algorithm>
#include <set>
#include <utility>

#include "controller/rollout/failure_rules.h"

namespace topos::rollout {
namespace {

bool Finished(HostPhase phase) {
  return phase == HostPhase::kSucceeded || phase == HostPhase::kFailed ||
         phase == HostPhase::kSkipped;
}

bool PoolFinished(const PoolProgress& pool) {
  return std::all_of(pool.hosts.begin(), pool.hosts.end(),
                     [](const HostProgress& h) { return Finished(h.phase); });
}

bool CanariesFinished(const PoolProgress& pool) {
  return std::all_of(pool.hosts.begin(), pool.hosts.end(),
                     [](const HostProgress& h) { return !h.canary || Finished(h.phase); });
}

bool HasCanaries(const PoolProgress& pool) {
  return std::any_of(pool.hosts.begin(), pool.hosts.end(),
                     [](const HostProgress& h) { return h.canary; });
}

bool HasWaitingMain(const PoolProgress& pool) {
  return std::any_of(pool.hosts.begin(), pool.hosts.end(), [](const HostProgress& h) {
    return !h.canary && h.phase == HostPhase::kWaiting;
  });
}

// Rules 2 and 3: may the pool's main hosts start (ignoring pause states)?
bool MainPhaseOpen(const PoolProgress& pool, const RolloutStrategy& s) {
  if (!CanariesFinished(pool)) return false;
  return !s.pause_after_canary || !HasCanaries(pool) || pool.canary_released;
}

// The lowest stage with an unfinished pool, or -1 when every pool finished.
int ActiveStage(const RolloutProgress& p) {
  int stage = -1;
  for (const PoolProgress& pool : p.pools) {
    if (PoolFinished(pool)) continue;  // an empty pool is finished
    if (stage < 0 || pool.stage < stage) stage = pool.stage;
  }
  return stage;
}

// Is `host` of `pool` one the engine wants to start now (its phase began)?
bool IsDue(const PoolProgress& pool, const HostProgress& host, const RolloutStrategy& s) {
  if (host.phase != HostPhase::kWaiting) return false;
  return host.canary || MainPhaseOpen(pool, s);
}

std::string TimeoutText(const RolloutStrategy& s) {
  return "--offline-timeout (" + std::to_string(s.offline_timeout.count()) + "s)";
}

TimePoint WaitingDeadline(const HostProgress& h, const RolloutStrategy& s) {
  return std::max(*h.offline_since, *h.due_since) + s.offline_timeout;
}

// Rule 8: a broken failure rule stops a rollout that has not stopped yet.
void ApplyFailureRules(RolloutProgress& p) {
  if (IsFinal(p.state)) return;
  if (std::optional<std::string> broken = BrokenFailureRule(p)) {
    p.state = RunState::kFailed;
    p.stop_reason = *broken;
  }
}

// Rule 9.
void FinishIfComplete(RolloutProgress& p) {
  if (IsFinal(p.state)) return;
  int succeeded = 0;
  std::vector<std::string> failed;
  std::vector<std::string> skipped;
  for (const PoolProgress& pool : p.pools) {
    for (const HostProgress& h : pool.hosts) {
      if (!Finished(h.phase)) return;
      if (h.phase == HostPhase::kSucceeded) ++succeeded;
      if (h.phase == HostPhase::kFailed) failed.push_back(h.host);
      if (h.phase == HostPhase::kSkipped) skipped.push_back(h.host);
    }
  }
  auto join = [](const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& n : names) text += (text.empty() ? "" : ", ") + n;
    return text;
  };
  std::string summary =
      std::to_string(succeeded) + (succeeded == 1 ? " host" : " hosts") + " deployed";
  if (!skipped.empty())
    summary += ", " + std::to_string(skipped.size()) + " skipped (" + join(skipped) + ")";
  if (failed.empty()) {
    p.state = RunState::kSucceeded;
    p.stop_reason = summary;
  } else {
    p.state = RunState::kFailed;
    p.stop_reason = "finished with " + std::to_string(failed.size()) +
                    (failed.size() == 1 ? " failed host (" : " failed hosts (") + join(failed) +
                    "); " + summary;
  }
}

}  // namespace

Result<RolloutProgress> NewRollout(const RolloutStrategy& strategy,
                                   const std::vector<std::vector<std::string>>& stages,
                                   const std::vector<PoolHosts>& pools) {
  TOPOS_RETURN_IF_ERROR(ValidateStrategy(strategy));
  std::map<std::string, const PoolHosts*> by_name;
  for (const PoolHosts& pool : pools) {
    if (!by_name.emplace(pool.name, &pool).second) {
      return Status::InvalidArgument("pool \"" + pool.name + "\" is given twice");
    }
  }
  RolloutProgress progress;
  progress.strategy = strategy;
  std::map<std::string, std::string> pool_of_host;
  std::set<std::string> staged;
  for (size_t stage = 0; stage < stages.size(); ++stage) {
    for (const std::string& name : stages[stage]) {
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        return Status::InvalidArgument("pool \"" + name + "\" is in a stage but has no host list");
      }
      if (!staged.insert(name).second) {
        return Status::InvalidArgument("pool \"" + name + "\" is in more than one stage");
      }
      PoolProgress pool;
      pool.name = name;
      pool.stage = static_cast<int>(stage);
      for (const std::string& host : it->second->hosts) {
        if (host.empty()) {
          return Status::InvalidArgument("pool \"" + name + "\" has a host with an empty name");
        }
        auto [where, fresh] = pool_of_host.emplace(host, name);
        if (!fresh) {
          return Status::InvalidArgument(
              "host " + host + " is in both pool \"" + where->second + "\" and pool \"" + name +
              "\" (a rollout deploys each host once with its whole configuration: list it in one "
              "pool)");
        }
        HostProgress h;
        h.host = host;
        h.canary = static_cast<int>(pool.hosts.size()) < strategy.canary;
        pool.hosts.push_back(std::move(h));
      }
      progress.pools.push_back(std::move(pool));
    }
  }
  for (const PoolHosts& pool : pools) {
    if (!staged.count(pool.name)) {
      return Status::InvalidArgument("pool \"" + pool.name + "\" has hosts but is in no stage");
    }
  }
  return progress;
}

Decision Next(const RolloutProgress& progress, TimePoint now) {
  return Next(RolloutProgress(progress), now);
}

Decision Next(RolloutProgress&& progress, TimePoint now) {
  Decision d;
  d.progress = std::move(progress);
  RolloutProgress& p = d.progress;
  const RolloutStrategy& s = p.strategy;

  // Rule 7, running hosts: unreachable for too long fails them, in any state.
  for (PoolProgress& pool : p.pools) {
    for (HostProgress& h : pool.hosts) {
      if (h.phase != HostPhase::kRunning || !h.offline_since) continue;
      if (now < *h.offline_since + s.offline_timeout) continue;
      h.phase = HostPhase::kFailed;
      h.reason = "unreachable: offline longer than " + TimeoutText(s) + " while deploying";
      d.resolved.push_back({h.host, h.phase, h.reason});
    }
  }

  // Rule 7, waiting hosts: mark the due ones and time out the offline ones.
  // Resolving a host can finish a canary phase or a stage, which makes more
  // hosts due, hence the loop (it ends: each round resolves a host).
  for (;;) {
    ApplyFailureRules(p);
    if (p.state != RunState::kRunning) break;
    const int stage = ActiveStage(p);
    if (stage < 0) break;
    bool changed = false;
    for (PoolProgress& pool : p.pools) {
      if (pool.stage != stage) continue;
      const bool main_open = MainPhaseOpen(pool, s);
      for (HostProgress& h : pool.hosts) {
        if (h.phase != HostPhase::kWaiting || !(h.canary || main_open)) continue;
        if (!h.due_since) h.due_since = now;
        if (!h.offline_since || now < WaitingDeadline(h, s)) continue;
        h.phase = s.skip_offline ? HostPhase::kSkipped : HostPhase::kFailed;
        h.reason = "offline longer than " + TimeoutText(s) + " when its turn came";
        d.resolved.push_back({h.host, h.phase, h.reason});
        changed = true;
      }
    }
    if (!changed) break;
  }

  // Rules 1 to 4: what starts now.
  const int stage = p.state == RunState::kRunning ? ActiveStage(p) : -1;
  if (stage >= 0) {
    bool canaries_running = false;
    bool gated = false;
    for (const PoolProgress& pool : p.pools) {
      if (pool.stage != stage) continue;
      if (!CanariesFinished(pool)) canaries_running = true;
      if (CanariesFinished(pool) && !MainPhaseOpen(pool, s) && HasWaitingMain(pool)) gated = true;
    }
    if (!canaries_running && gated) {
      p.state = RunState::kPausedForCanary;
      p.stop_reason = "the canary hosts of stage " + std::to_string(stage + 1) +
                      " have finished: run `rollout resume` to deploy the other hosts";
    } else {
      for (PoolProgress& pool : p.pools) {
        if (pool.stage != stage) continue;
        if (!CanariesFinished(pool)) {
          for (HostProgress& h : pool.hosts) {
            if (!h.canary || h.phase != HostPhase::kWaiting || h.offline_since) continue;
            h.phase = HostPhase::kRunning;
            d.start.push_back(h.host);
          }
          continue;
        }
        if (!MainPhaseOpen(pool, s)) continue;
        const int window = WindowSize(s.max_unavailable, static_cast<int>(pool.hosts.size()));
        int running = static_cast<int>(
            std::count_if(pool.hosts.begin(), pool.hosts.end(),
                          [](const HostProgress& h) { return h.phase == HostPhase::kRunning; }));
        for (HostProgress& h : pool.hosts) {
          if (running >= window) break;
          if (h.canary || h.phase != HostPhase::kWaiting || h.offline_since) continue;
          h.phase = HostPhase::kRunning;
          d.start.push_back(h.host);
          ++running;
        }
      }
    }
  }

  FinishIfComplete(p);

  bool any_running = false;
  for (const PoolProgress& pool : p.pools) {
    for (const HostProgress& h : pool.hosts) {
      if (h.phase == HostPhase::kRunning) any_running = true;
      std::optional<TimePoint> deadline;
      if (h.phase == HostPhase::kRunning && h.offline_since) {
        deadline = *h.offline_since + s.offline_timeout;
      } else if (p.state == RunState::kRunning && h.phase == HostPhase::kWaiting &&
                 h.offline_since && h.due_since && IsDue(pool, h, s) && pool.stage == stage) {
        deadline = WaitingDeadline(h, s);
      }
      if (deadline && (!d.wake_at || *deadline < *d.wake_at)) d.wake_at = deadline;
    }
  }
  d.done = IsFinal(p.state) && !any_running;
  return d;
}

}  // namespace topos::rollout
