// How toposctl shows a rollout: the per-pool progress view, one line per
// event, the status page and the exit code a finished rollout gives. Pure
// text functions of the rollout messages, so they are unit-tested.
#pragma once

#include <string>
#include <vector>

#include "topos/v1/rollout.pb.h"

namespace topos::cli {

// Exit codes of `rollout start --wait` and `rollout watch`.
inline constexpr int kRolloutSucceeded = 0;
inline constexpr int kRolloutFailed = 1;   // stopped by a failure rule or ended with failed hosts
inline constexpr int kRolloutAborted = 3;  // aborted by an operator
inline constexpr int kRolloutUnknown = 4;  // the controller could not be reached to the end

struct PoolCounts {
  int succeeded = 0, running = 0, failed = 0, waiting = 0, skipped = 0;
  int total() const { return succeeded + running + failed + waiting + skipped; }
};
PoolCounts CountPool(const v1::RolloutPool& pool);

// One line per pool, in stage order:
//   "stage 1  chat  [########------------]  2/5 done  1 running  0 failed  2 waiting"
// then one summary line: "rollout r-1a2b... running: 3 of 12 hosts done".
// `width` is the progress bar's width in characters.
std::vector<std::string> ProgressLines(const v1::Rollout& rollout, int width = 20);

// "12:00:03  chat01.contoso.test  host-failed  install_service topos-pchat: hook exited 1"
std::string EventLine(const v1::RolloutEvent& event);

// Whether the progress view shows the event by default: rollout and host
// events and failed steps, not every step start and success.
bool ShownByDefault(const v1::RolloutEvent& event);

// The full `rollout status` page: header, strategy, failure budget per pool
// and overall, and every host with its phase and what it is doing or why it
// failed.
std::string StatusText(const v1::Rollout& rollout);

// "deploy", "rollback" or "certificates": the kind as operators read it.
std::string KindName(const v1::Rollout& rollout);

// "scheduled for 2026-11-27T02:00:00Z" for a rollout with an effective time
// that is still "scheduled"; empty otherwise.
std::string ScheduleText(const v1::Rollout& rollout);

// The exit code for a done rollout (kRolloutUnknown while it is not done).
int ExitCodeFor(const v1::Rollout& rollout);

}  // namespace topos::cli
