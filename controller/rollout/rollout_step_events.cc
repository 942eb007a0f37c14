#include "controller/rollout/rollout_step_events.h"

#include "controller/deploy/deploy_plan.h"
#include "controller/deploy/step_tracker.h"

namespace topos::rollout {

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

}  // namespace topos::rollout
