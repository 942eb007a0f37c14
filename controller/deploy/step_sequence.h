// The steps planned for one host, run one after another: each is sent when
// the one before it succeeded, and the sequence stops at the first that
// does not. It has no thread of its own. Its owner feeds it the current
// step's updates and the time, so one thread can run thousands of hosts'
// sequences side by side (DeployDriver, for rollouts) and a caller's
// thread can run one (HostDeploy, for `toposctl deploy`).
//
// Events, in order: a step's start (the step and what it does), each of
// its updates, and at the end one event with done set: ok, or why not.
//
// Thread-safety: none; the owner calls it from one thread at a time, and
// the sink is called on that thread, from within those calls.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "controller/deploy/step_tracker.h"
#include "topos/v1/admin.pb.h"

namespace topos::controller {

class StepSequence {
 public:
  using Clock = std::chrono::steady_clock;
  using EventSink = std::function<void(topos::v1::DeployEvent)>;
  // Carries an update of one of this sequence's steps from the tracker's
  // thread back to the owner, who hands it to OnUpdate.
  using Route = StepTracker::Observer;

  // A step's outcome may arrive `grace` after its deadline (the agent
  // cancels at the deadline itself) before the step counts as lost.
  StepSequence(StepTracker& tracker, std::string fqdn, std::vector<topos::v1::RunStep> steps,
               EventSink sink, std::chrono::seconds grace);

  // Sends the first step, or finishes at once (ok) when there is none.
  void Begin(Route route, Clock::time_point now);
  // An update from the tracker; one that is not the current step's is
  // ignored (a late duplicate).
  void OnUpdate(const topos::v1::StepUpdate& update, Clock::time_point now);
  // Enforces the current step's deadline, and `cancelled` (the operator
  // went away, or the rollout was aborted): the agent is asked to cancel
  // the step, and when no outcome comes within 5 s more, the sequence
  // fails. Call it at least every few hundred milliseconds.
  void Tick(bool cancelled, Clock::time_point now);
  // Controller shutdown: stops waiting at once, leaving the step to run on
  // the agent (a restarted controller sends it again under the same id)
  // and reporting nothing more.
  void Abandon();

  bool finished() const { return finished_; }
  // Every step succeeded (meaningful once finished).
  bool ok() const { return ok_; }

 private:
  void SendCurrent(Clock::time_point now);
  void Finish(bool ok, std::string message);

  StepTracker& tracker_;
  const std::string fqdn_;
  const std::vector<topos::v1::RunStep> steps_;
  EventSink sink_;
  const std::chrono::seconds grace_;
  Route route_;
  std::size_t current_ = 0;
  Clock::time_point deadline_;
  bool cancel_sent_ = false;
  bool finished_ = false;
  bool ok_ = false;
};

}  // namespace topos::controller
