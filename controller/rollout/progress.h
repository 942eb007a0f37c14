// The state of one rollout, as plain values: what each host is doing and
// whether the rollout runs, waits or has stopped. engine.h computes the next
// state from it; the controller stores it and shows it. Value types, not
// thread-safe (one owner, like any value).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/rollout/strategy.h"

namespace topos::rollout {

// Wall-clock time, so that a stored rollout survives a controller restart.
// The engine never reads a clock: callers pass `now` (tests pass a fake one).
using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

enum class HostPhase {
  kWaiting,    // not started yet
  kRunning,    // its deploy was started and has not reported an outcome
  kSucceeded,  // deployed
  kFailed,     // its deploy failed, or it stayed unreachable (see engine.h)
  kSkipped,    // offline past --offline-timeout with --skip-offline; never started
};

enum class RunState {
  kRunning,          // hosts are being started as the rules allow
  kPausedForCanary,  // a stage's canaries are done; waits for Resume (--pause-after-canary)
  kPaused,           // paused by the operator; waits for Resume
  kAborted,          // stopped by the operator; final
  kFailed,           // stopped by a failure rule, or finished with failed hosts; final
  kSucceeded,        // every host succeeded or was skipped; final
};

struct HostProgress {
  std::string host;  // FQDN
  HostPhase phase = HostPhase::kWaiting;
  bool canary = false;                     // one of its pool's first --canary hosts
  std::optional<TimePoint> offline_since;  // set while the host's agent is not connected
  // When the engine first wanted to start this host (its pool's canary or
  // main phase began while the rollout was running); the offline wait counts
  // from here or from offline_since, whichever is later.
  std::optional<TimePoint> due_since;
  std::string reason;  // why it failed or was skipped; empty otherwise
};

struct PoolProgress {
  std::string name;
  int stage = 0;                    // index into the stage list (stages.h)
  std::vector<HostProgress> hosts;  // canaries first, then in the order given
  bool canary_released = false;     // Resume let its main hosts start (--pause-after-canary)
};

struct RolloutProgress {
  RolloutStrategy strategy;
  std::vector<PoolProgress> pools;  // in stage order
  RunState state = RunState::kRunning;
  // Why the rollout stopped or finished, for people: "pool chat: 2 of 5
  // attempted hosts failed (40%), over the 20% failure threshold". Empty
  // while it runs.
  std::string stop_reason;
};

// "waiting", "running", ...; "paused-for-canary", ...: names for output.
std::string_view HostPhaseName(HostPhase phase);
std::string_view RunStateName(RunState state);

// True for the states that never change again (kAborted, kFailed, kSucceeded).
// Hosts may still be running in kAborted and kFailed (see engine.h).
bool IsFinal(RunState state);

}  // namespace topos::rollout
