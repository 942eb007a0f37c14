// `rollout watch` and `rollout start --wait`: follows a rollout's events
// until it is done, with the live per-pool progress view. On a terminal the
// view is redrawn in place under the event lines; otherwise events are
// printed as lines and the view once at the end. A controller that goes
// away (restart, crash) is reconnected to for up to `reconnect_for`,
// continuing after the last event seen, so nothing is shown twice or lost.
// Also the report every rollout-starting command prints (`rollout start`,
// `rollout rollback`, `certs rollout`) before it follows the rollout.
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

// How a command that has just started a rollout shows it.
struct StartedReport {
  std::string what = "rollout";  // the headline's first words: "rollout", "certificate rollout"
  std::string detail;            // appended to the headline: " (topology version 7)"
  std::string output = "table";  // "json": print the response as JSON instead of text
  bool wait = false;             // follow it with WatchRollout until it ends
  bool all_steps = false;        // with `wait`: show every step, not only failures
};

// Prints the rollout in `response` that a command has just started: as JSON,
// or as "<what> ID started: N hosts in M pools<detail>" ("scheduled for
// TIME" instead of "started" while it waits for its --effective-at), one
// "  left out: ..." line per host the controller left out, and, without
// `wait`, how to follow it. Returns 0, or with `wait` WatchRollout's exit
// code.
int ReportStartedRollout(const ConnectionOptions& connection,
                         const v1::StartRolloutResponse& response, const StartedReport& report);

}  // namespace topos::cli
