// Runs a planned list of steps on one host, one after the other, on the
// calling thread, and reports every event; stops at the first step that
// does not succeed (StepSequence says how).
//
// Thread-safety: Run blocks the calling thread (a deploy's own thread);
// events are delivered on it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "controller/deploy/step_tracker.h"
#include "topos/v1/admin.pb.h"

namespace topos::controller {

class HostDeploy {
 public:
  using EventSink = std::function<void(topos::v1::DeployEvent)>;

  HostDeploy(StepTracker& tracker, std::string fqdn, std::vector<topos::v1::RunStep> steps,
             EventSink sink)
      : tracker_(tracker), fqdn_(std::move(fqdn)), steps_(std::move(steps)), sink_(std::move(sink)) {}

  // Returns true if every step succeeded. A step whose outcome does not come
  // back within its deadline plus `grace` fails the deploy (the agent is
  // asked to cancel it). `cancelled` (the operator went away) cancels the
  // running step and stops.
  bool Run(const std::atomic<bool>& cancelled, std::chrono::seconds grace = std::chrono::seconds(30));

 private:
  StepTracker& tracker_;
  const std::string fqdn_;
  const std::vector<topos::v1::RunStep> steps_;
  EventSink sink_;
};

}  // namespace topos::controller
