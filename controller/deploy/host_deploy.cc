#include "controller/deploy/host_deploy.h"

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include "controller/deploy/deploy_plan.h"

namespace topos::controller {
namespace {

// Updates of one step, handed from the tracker's threads to the deploy's.
struct Mailbox {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<topos::v1::StepUpdate> updates;
};

}  // namespace

bool HostDeploy::Run(const std::atomic<bool>& cancelled, std::chrono::seconds grace,
                     const std::atomic<bool>* abandoned) {
  for (const auto& step : steps_) {
    auto mailbox = std::make_shared<Mailbox>();
    tracker_.Dispatch(fqdn_, step, [mailbox](const topos::v1::StepUpdate& update) {
      std::lock_guard lock(mailbox->mutex);
      mailbox->updates.push_back(update);
      mailbox->ready.notify_all();
    });
    topos::v1::DeployEvent started;
    *started.mutable_step() = step;
    started.set_message(DescribeStep(step));
    sink_(started);

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(step.deadline_seconds()) + grace;
    bool cancel_sent = false;
    std::optional<topos::v1::StepUpdate> outcome;
    while (!outcome) {
      std::deque<topos::v1::StepUpdate> batch;
      {
        std::unique_lock lock(mailbox->mutex);
        mailbox->ready.wait_for(lock, std::chrono::milliseconds(100),
                                [&] { return !mailbox->updates.empty(); });
        batch.swap(mailbox->updates);
      }
      for (auto& update : batch) {
        topos::v1::DeployEvent event;
        *event.mutable_step() = step;
        *event.mutable_update() = update;
        sink_(event);
        if (IsFinal(update.state())) outcome = update;
      }
      if (outcome) break;
      if (abandoned != nullptr && abandoned->load()) {
        tracker_.Forget(fqdn_, step.step_id());
        return false;
      }
      if ((cancelled.load() || std::chrono::steady_clock::now() > deadline) && !cancel_sent) {
        tracker_.Cancel(fqdn_, step.step_id());
        cancel_sent = true;
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      } else if (cancel_sent && std::chrono::steady_clock::now() > deadline) {
        tracker_.Forget(fqdn_, step.step_id());
        topos::v1::DeployEvent event;
        *event.mutable_step() = step;
        event.set_message(cancelled.load()
                              ? "deploy cancelled"
                              : "no outcome from " + fqdn_ + " within the step's deadline (" +
                                    std::to_string(step.deadline_seconds()) +
                                    " s); is the host online?");
        event.set_done(true);
        event.set_ok(false);
        sink_(event);
        return false;
      }
    }
    if (outcome->state() != topos::v1::STEP_SUCCEEDED) {
      topos::v1::DeployEvent done;
      done.set_done(true);
      done.set_ok(false);
      done.set_message(DescribeStep(step) + " " +
                       (outcome->state() == topos::v1::STEP_PENDING ? "is waiting for approval"
                                                                   : "did not succeed"));
      sink_(done);
      return false;
    }
  }
  topos::v1::DeployEvent done;
  done.set_done(true);
  done.set_ok(true);
  done.set_message("all " + std::to_string(steps_.size()) + " steps succeeded on " + fqdn_);
  sink_(done);
  return true;
}

}  // namespace topos::controller
