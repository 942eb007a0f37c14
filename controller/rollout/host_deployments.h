// The host deploys of one rollout: each started host runs its stored steps
// (Store::GetRolloutHostSteps) with a controller::HostDeploy on a thread of
// its own and reports, through the owner's `post` callback, each step event
// worth storing (rollout_step_events.h) and finally its outcome. A host
// whose steps are missing or unreadable fails at once with a reason saying
// so. At most one deploy runs per host.
//
// Resuming after a controller restart: Resume sends a running host's steps
// again under the same ids (agents answer finished ones from their
// journals) and posts no step event already stored since the host's last
// "host-started" event.
//
// Thread-safety: guarded by the owner's mutex, passed in: every method but
// Join is called with it held, and each deploy thread takes it to call
// `post` (which thus runs with it held) and to retire itself.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "controller/deploy/step_tracker.h"
#include "controller/store/store.h"
#include "topos/v1/rollout.pb.h"

namespace topos::rollout {

class HostDeployments {
 public:
  // What a deploy reports to the owner.
  struct Report {
    std::string host;
    std::optional<bool> result_ok;  // set: the host's deploy finished
    std::string reason;             // result: why it failed
    v1::RolloutEvent step_event;    // otherwise: a step event (kind, message, step kind, service)
  };
  using Post = std::function<void(Report)>;

  // One host's deploy thread and the flags it watches.
  struct Deployment {
    std::thread thread;
    std::atomic<bool> cancel{false};
    std::atomic<bool> abandon{false};
  };

  // `store` and `steps` must outlive this; so must `mutex` and what `post`
  // refers to.
  HostDeployments(controller::Store& store, controller::StepTracker& steps, std::string rollout_id,
                  std::mutex& mutex, Post post);

  // Starts `host`'s deploy; nothing if one is running already.
  void LaunchLocked(const std::string& host);
  // After a controller restart: starts the deploys of `hosts` (stored as
  // running), skipping the step events already stored for them and posting
  // a "host-resumed" step event for those that had started steps.
  void ResumeLocked(const std::vector<std::string>& hosts);
  // Asks the running step of `host` (or of every host) to cancel; the
  // deploy then finishes and reports as failed.
  void CancelLocked(const std::string& host);
  void CancelAllLocked();
  // Joins the threads of deploys that have reported their outcome.
  void JoinFinishedLocked();
  // Controller shutdown: every deploy stops waiting and reports nothing
  // more (its steps keep running on the agents). Returns them all, to be
  // passed to Join once the mutex is released.
  std::vector<std::unique_ptr<Deployment>> AbandonAllLocked();
  static void Join(std::vector<std::unique_ptr<Deployment>>& deployments);

 private:
  // Step events of a host stored since its last host-started event.
  struct Recorded {
    int started = 0;
    int finished = 0;
  };
  std::map<std::string, Recorded> RecordedStepsLocked();
  // `recorded` (a resumed host): the agent answers those steps from its
  // journal, and their events are not posted twice.
  void StartLocked(const std::string& host, Recorded recorded);

  controller::Store& store_;
  controller::StepTracker& steps_;
  const std::string rollout_id_;
  std::mutex& mutex_;
  const Post post_;
  std::map<std::string, std::unique_ptr<Deployment>> running_;  // guarded by mutex_
  std::vector<std::unique_ptr<Deployment>> finished_;          // guarded by mutex_; to join
};

}  // namespace topos::rollout
