// `rollout watch` and `rollout start --wait`: follows a rollout's events
// until it is done, with the live per-pool progress view. On a terminal the
// view is redrawn in place under the event lines; otherwise events are
// printed as lines and the view once at the end. A controller that goes
// away (restart, crash) is reconnected to for up to `reconnect_for`,
// continuing after the last event seen, so nothing is shown twice or lost.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "controller/cli/admin_client.h"

namespace topos::cli {

struct WatchOptions {
  bool all_steps = false;  // show every step event, not only failures
  std::uint64_t after_seq = 0;
  std::chrono::seconds reconnect_for{120};
};

// Returns the exit code of rollout_view.h (kRolloutSucceeded, ...), or 1 when
// the rollout cannot be watched (unknown id, no permission).
int WatchRollout(const ConnectionOptions& connection, const std::string& id,
                 const WatchOptions& options);

}  // namespace topos::cli
