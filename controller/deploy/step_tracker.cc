#include "controller/deploy/step_tracker.h"

#include <spdlog/spdlog.h>

namespace topos::controller {

bool IsFinal(topos::v1::StepState state) {
  return state == topos::v1::STEP_SUCCEEDED || state == topos::v1::STEP_FAILED ||
         state == topos::v1::STEP_PENDING || state == topos::v1::STEP_CANCELLED;
}

namespace {

topos::v1::ControllerMessage RunMessage(const topos::v1::RunStep& step) {
  topos::v1::ControllerMessage message;
  *message.mutable_run_step() = step;
  return message;
}

}  // namespace

void StepTracker::Dispatch(const std::string& fqdn, const topos::v1::RunStep& step,
                           Observer observer) {
  {
    std::lock_guard lock(mutex_);
    in_flight_[{fqdn, step.step_id()}] = InFlight{step, std::move(observer)};
  }
  if (!hub_.Send(fqdn, RunMessage(step))) {
    spdlog::info("host={} is offline; step {} will be sent when it connects", fqdn, step.step_id());
  }
}

void StepTracker::Cancel(const std::string& fqdn, const std::string& step_id) {
  topos::v1::ControllerMessage message;
  message.mutable_cancel_step()->set_step_id(step_id);
  hub_.Send(fqdn, std::move(message));
}

void StepTracker::Forget(const std::string& fqdn, const std::string& step_id) {
  std::lock_guard lock(mutex_);
  in_flight_.erase({fqdn, step_id});
}

void StepTracker::OnStepUpdate(const std::string& fqdn, const topos::v1::StepUpdate& update) {
  Observer observer;
  {
    std::lock_guard lock(mutex_);
    auto it = in_flight_.find({fqdn, update.step_id()});
    if (it == in_flight_.end()) return;  // a late duplicate, or nobody waits any more
    observer = it->second.observer;
    if (IsFinal(update.state())) in_flight_.erase(it);
  }
  if (observer) observer(update);
}

void StepTracker::OnHello(const std::string& fqdn,
                          const std::vector<topos::v1::StepUpdate>& journal) {
  std::vector<std::pair<Observer, topos::v1::StepUpdate>> finished;
  std::vector<topos::v1::RunStep> resend;
  {
    std::lock_guard lock(mutex_);
    for (auto it = in_flight_.lower_bound({fqdn, ""});
         it != in_flight_.end() && it->first.first == fqdn;) {
      const std::string& step_id = it->first.second;
      const topos::v1::StepUpdate* known = nullptr;
      for (const auto& entry : journal) {
        if (entry.step_id() == step_id) known = &entry;
      }
      if (known == nullptr) {
        resend.push_back(it->second.step);
        ++it;
      } else if (IsFinal(known->state())) {
        finished.emplace_back(it->second.observer, *known);
        it = in_flight_.erase(it);
      } else {
        ++it;  // still running on the agent: it reports when done
      }
    }
  }
  for (auto& [observer, update] : finished) {
    if (observer) observer(update);
  }
  for (const auto& step : resend) {
    spdlog::info("host={} reconnected without step {}; sending it", fqdn, step.step_id());
    hub_.Send(fqdn, RunMessage(step));
  }
}

std::size_t StepTracker::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_.size();
}

}  // namespace topos::controller
