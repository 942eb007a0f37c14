#include "controller/deploy/step_sequence.h"

#include <utility>

#include "controller/deploy/deploy_plan.h"

namespace topos::controller {
namespace {

// How long a step has to report after the agent was asked to cancel it.
constexpr std::chrono::seconds kCancelAnswerTime{5};

}  // namespace

StepSequence::StepSequence(StepTracker& tracker, std::string fqdn,
                           std::vector<topos::v1::RunStep> steps, EventSink sink,
                           std::chrono::seconds grace)
    : tracker_(tracker),
      fqdn_(std::move(fqdn)),
      steps_(std::move(steps)),
      sink_(std::move(sink)),
      grace_(grace) {}

void StepSequence::Begin(Route route, Clock::time_point now) {
  route_ = std::move(route);
  if (steps_.empty()) {
    Finish(true, "all 0 steps succeeded on " + fqdn_);
    return;
  }
  SendCurrent(now);
}

void StepSequence::SendCurrent(Clock::time_point now) {
  const topos::v1::RunStep& step = steps_[current_];
  tracker_.Dispatch(fqdn_, step, route_);
  topos::v1::DeployEvent started;
  *started.mutable_step() = step;
  started.set_message(DescribeStep(step));
  sink_(std::move(started));
  deadline_ = now + std::chrono::seconds(step.deadline_seconds()) + grace_;
  cancel_sent_ = false;
}

void StepSequence::OnUpdate(const topos::v1::StepUpdate& update, Clock::time_point now) {
  if (finished_ || update.step_id() != steps_[current_].step_id()) return;
  const topos::v1::RunStep& step = steps_[current_];
  topos::v1::DeployEvent event;
  *event.mutable_step() = step;
  *event.mutable_update() = update;
  sink_(std::move(event));
  if (!IsFinal(update.state())) return;
  if (update.state() != topos::v1::STEP_SUCCEEDED) {
    Finish(false, DescribeStep(step) + " " +
                      (update.state() == topos::v1::STEP_PENDING ? "is waiting for approval"
                                                                 : "did not succeed"));
    return;
  }
  if (++current_ == steps_.size()) {
    Finish(true, "all " + std::to_string(steps_.size()) + " steps succeeded on " + fqdn_);
    return;
  }
  SendCurrent(now);
}

void StepSequence::Tick(bool cancelled, Clock::time_point now) {
  if (finished_) return;
  const topos::v1::RunStep& step = steps_[current_];
  if ((cancelled || now > deadline_) && !cancel_sent_) {
    tracker_.Cancel(fqdn_, step.step_id());
    cancel_sent_ = true;
    deadline_ = now + kCancelAnswerTime;
  } else if (cancel_sent_ && now > deadline_) {
    tracker_.Forget(fqdn_, step.step_id());
    topos::v1::DeployEvent event;
    *event.mutable_step() = step;
    event.set_message(cancelled ? "deploy cancelled"
                                : "no outcome from " + fqdn_ + " within the step's deadline (" +
                                      std::to_string(step.deadline_seconds()) +
                                      " s); is the host online?");
    event.set_done(true);
    event.set_ok(false);
    finished_ = true;
    sink_(std::move(event));
  }
}

void StepSequence::Abandon() {
  if (finished_) return;
  tracker_.Forget(fqdn_, steps_[current_].step_id());
  finished_ = true;
}

void StepSequence::Finish(bool ok, std::string message) {
  finished_ = true;
  ok_ = ok;
  topos::v1::DeployEvent done;
  done.set_done(true);
  done.set_ok(ok);
  done.set_message(std::move(message));
  sink_(std::move(done));
}

}  // namespace topos::controller
