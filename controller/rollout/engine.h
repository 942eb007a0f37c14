// The rollout engine's decisions: which hosts to start now, when to wait and
// when to stop. Plain functions of a RolloutProgress and the time the caller
// passes in; no I/O, no clock, no threads. The caller (the controller's
// rollout runner) owns the progress, feeds every event through the
// transition functions below, calls Next after each one (and again by
// Decision::wake_at), starts the hosts Next names and stores the progress.
//
// THE RULES (the README quotes them; T is --failure-threshold)
//
// 1. Stages. Pools run stage by stage (stages.h). A stage starts only when
//    every pool of the stages before it has finished: each of its hosts
//    succeeded, failed or was skipped.
// 2. Canaries. The first --canary hosts of each pool (all of them if the pool
//    is smaller) are its canaries. They start together when their stage
//    starts, not limited by --max-unavailable. The pool's other ("main")
//    hosts wait until every canary of the pool has finished.
// 3. Pause after canary. With --pause-after-canary, once every pool of the
//    stage has finished its canaries, the rollout pauses (state
//    paused-for-canary) until `rollout resume`; one pause per stage.
// 4. Window. Main hosts start one by one, in order, while fewer than
//    WindowSize(--max-unavailable, pool size) hosts of the pool are running
//    (strategy.h: 10% of 25 hosts = 2): a sliding window, so a new host
//    starts as soon as one finishes, not when a whole batch has.
// 5. Failure threshold (main hosts). Counted separately for each pool and
//    for the whole rollout, over the main hosts ATTEMPTED so far: succeeded
//    plus failed; waiting, running and skipped hosts and canaries do not
//    count. A host that stayed unreachable counts as failed. The rollout
//    stops when failed x 100 > T x attempted (strictly over the threshold)
//    and at least 2 hosts failed: a threshold above 0% always tolerates one
//    failure, so the first host to finish cannot stop the rollout on its own
//    (1 of 1 would be 100%). T = 0% stops at the first failure; T = 100%
//    never stops. With T = 20%:
//       1 of 1 failed  -> continues (a single failure is tolerated)
//       1 of 5 (20%)   -> continues (at the threshold, not over it)
//       2 of 10 (20%)  -> continues
//       2 of 9 (22.2%) -> stops
//       2 of 5 (40%)   -> stops: "pool chat: 2 of 5 attempted hosts failed
//                         (40%), over the 20% failure threshold"
//    The whole-rollout count catches failures scattered over pools: pool a
//    with 1 of 2 failed and pool b with 1 of 1 each tolerate their single
//    failure, but the rollout's 2 of 3 (66.6%) stops it: "rollout: 2 of 3
//    attempted hosts failed (66.6%), over the 20% failure threshold". Its
//    edge: 2 of 10 over all pools continues, a third failure (3 of 11,
//    27.2%) stops. When both counts are over, the pool is named.
// 6. Canary failures. Counted per pool, apart from the threshold above. The
//    rollout stops as soon as a pool has more than --canary-failures-allowed
//    failed canaries (default 0: the first canary failure stops it):
//    allowed 1, 1 failed -> continues; 2 failed -> stops.
// 7. Offline hosts. A waiting host whose agent is offline is passed over:
//    the next online host of the pool starts in its place. It is waited for
//    up to --offline-timeout, counted from when its pool's canary or main
//    phase began or from when it went offline, whichever is later; at that
//    moment (not before) it becomes failed, or skipped with --skip-offline.
//    A host that goes offline while running keeps its place in the window;
//    if it is still offline --offline-timeout later it fails as unreachable,
//    even with --skip-offline (it may be half-deployed). Time spent paused
//    counts toward the wait (a host that was due before a pause and is
//    still offline may time out as the rollout resumes), but waiting hosts
//    time out only while the rollout runs.
// 8. Stopping. Once a rule stops the rollout (state failed) or the operator
//    aborts it (state aborted), no new host starts; running hosts finish
//    (the caller may cancel them) and their outcomes are still recorded;
//    stop_reason says why. Decision::done turns true when none is running.
// 9. Finishing. When every host has finished the rollout succeeded if each
//    host succeeded or was skipped ("11 hosts deployed, 1 skipped (h4)");
//    otherwise it failed ("finished with 1 failed host (h3); 11 hosts
//    deployed"), even if no rule stopped it. This ends a pause too.
// 10. Pause, resume, abort. Pause (from running or paused-for-canary) stops
//    new starts while running hosts finish. Resume (from paused or
//    paused-for-canary) continues and releases every pool whose canaries have
//    finished. Abort stops for good. Each refuses the states it does not
//    apply to with FailedPrecondition. One rollout at a time per host:
//    CheckHostsFree.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "controller/rollout/progress.h"

namespace topos::rollout {

// One pool of a new rollout: its hosts in the order to deploy them (the
// first --canary of them become its canaries).
struct PoolHosts {
  std::string name;
  std::vector<std::string> hosts;
};

// Builds the progress of a rollout that has not started a host yet. `stages`
// is OrderStages' output; `pools` gives the hosts of every pool it names.
// InvalidArgument for an invalid strategy (ValidateStrategy), a pool of
// `stages` missing from `pools` or the other way round, an empty host name,
// or a host listed twice (a rollout deploys each host once, and a host
// deploy applies the host's whole configuration: put it in one pool).
Result<RolloutProgress> NewRollout(const RolloutStrategy& strategy,
                                   const std::vector<std::vector<std::string>>& stages,
                                   const std::vector<PoolHosts>& pools);

// An offline host that Next resolved because --offline-timeout passed.
struct Resolved {
  std::string host;
  HostPhase phase;  // kFailed or kSkipped
  std::string reason;
};

struct Decision {
  // The progress with this decision applied: hosts in `start` are running,
  // `resolved` hosts are failed or skipped, the state reflects any stop,
  // pause or finish. The caller stores it in place of the old one.
  RolloutProgress progress;
  std::vector<std::string> start;  // start these hosts' deploys now, in order
  std::vector<Resolved> resolved;  // offline hosts that timed out in this call
  bool done = false;               // final state and no host running: nothing more will happen
  // The earliest moment an offline host times out; call Next again then
  // even if no event arrives. Empty when no timer is pending.
  std::optional<TimePoint> wake_at;
};

// Applies rules 1 to 9 at time `now`. Calling it again with the result's
// progress and the same `now` starts nothing new.
Decision Next(const RolloutProgress& progress, TimePoint now);
// The same, taking `progress` over: the runner's rounds do not pay for a
// copy of every host.
Decision Next(RolloutProgress&& progress, TimePoint now);

// Where a caller that keeps an index expects a host: progress.pools[pool]
// .hosts[host]. The three functions below look there first and search every
// host only when it names another host (or none): a search per result costs
// O(hosts), O(hosts²) over a rollout.
struct HostSlot {
  int pool = -1;
  int host = -1;
};

// These three change `progress` in place and leave it as it was when they
// refuse: a copy per result would cost O(hosts) each, O(hosts²) over a
// rollout. NotFound for a host not in the rollout.
//
// A running host's deploy finished: `ok` or failed with `reason`. A failure
// applies the failure rules at once (the state may become failed); a
// success cannot break one, so it does not (Next applies them anyway).
// FailedPrecondition if the host is not running.
Status RecordHostResult(RolloutProgress& progress, std::string_view host, bool ok,
                        std::string reason, HostSlot slot = {});
// The host's agent disconnected at `now` (kept if already offline) or
// connected again. Hosts that have finished are left alone.
Status RecordHostOffline(RolloutProgress& progress, std::string_view host, TimePoint now,
                         HostSlot slot = {});
Status RecordHostOnline(RolloutProgress& progress, std::string_view host, HostSlot slot = {});

// Rule 10. Abort's `reason` goes into stop_reason ("aborted by the operator:
// bad config").
Result<RolloutProgress> Pause(const RolloutProgress& progress);
Result<RolloutProgress> Resume(const RolloutProgress& progress);
Result<RolloutProgress> Abort(const RolloutProgress& progress, std::string reason);

// One rollout at a time per host: FailedPrecondition naming the first host
// of `rollout` found in `busy` (host -> id of another rollout that has not
// finished), with the fix.
Status CheckHostsFree(const RolloutProgress& rollout,
                      const std::map<std::string, std::string, std::less<>>& busy);

}  // namespace topos::rollout
