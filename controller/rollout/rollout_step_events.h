// What a rollout's event log keeps of a host deploy's step events: the
// mapping from controller::HostDeploy's DeployEvents to RolloutEvents.
//
// Contract: a step that starts gives one "step-started" event (message: the
// deploy's line for it); a step that reaches a final state (IsFinal) gives
// one "step-succeeded", "step-pending", "step-cancelled" or "step-failed"
// event whose message is the step's description followed by ": " and the
// result's error, or else its summary (neither: the description alone).
// Every step event carries the step's kind and service. Everything else
// (running updates and their output chunks, the deploy's closing summary,
// events about no step) gives no event. The events have no rollout id, host,
// time or sequence number: the runner fills those in when it stores them.
//
// Thread-safety: plain functions of their arguments.
#pragma once

#include <optional>
#include <string>

#include "topos/v1/admin.pb.h"
#include "topos/v1/rollout.pb.h"

namespace topos::rollout {

// The event kind of a step that finished in `state`: "step-succeeded",
// "step-pending", "step-cancelled", and "step-failed" for any other state.
std::string StepEventKind(v1::StepState state);

// The rollout event for `event`, or nothing for those not worth keeping
// (see the contract above).
std::optional<v1::RolloutEvent> StepEvent(const v1::DeployEvent& event);

}  // namespace topos::rollout
