// Drives one rollout: feeds what happens (host deploys finishing, agents
// going offline and coming back, operator commands) through the engine's
// transitions, asks the engine what to do next, stores the new state and
// its events, and only then acts (starts host deploys, cancels steps).
// Every transition is stored before it is acted on, so a controller killed
// at any moment and started again resumes from the store: hosts stored as
// running get their stored steps sent again under the same step ids, which
// agents answer from their journals instead of running twice.
//
// Started hosts run their stored steps on the runner's DeployDriver: one
// thread for all of them, however large the window. Agents' connectivity
// comes from the hub, polled once a second and after every event.
//
// Decision rounds are coalesced: a round applies everything that arrived
// since the last one (host results, step events, connectivity changes),
// asks the engine once, stores the record and all new events in one
// write, then acts. The write holds only the hosts the round changed
// (rollout_record.h), but a round still looks at every host, so after an
// arrival the next round waits a few times as long as the last round took
// (5 to 100 ms) to gather more.
//
// A rollout with an effective time (Rollout.effective_at_unix_ms, set by
// certificate rollouts with --effective-at) starts no host before it and
// shows state "scheduled" until then (rollout_codec.h); pause, resume and
// abort work meanwhile, and a restarted controller keeps waiting for it.
//
// Thread-safety: every public method is safe from any thread. Store calls
// are made under the runner's lock (one runner, one writer per rollout).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/status.h"
#include "controller/deploy/deploy_driver.h"
#include "controller/deploy/step_tracker.h"
#include "controller/hub/agent_hub.h"
#include "controller/rollout/engine.h"
#include "controller/store/store.h"
#include "topos/v1/rollout.pb.h"

namespace topos::rollout {

class RolloutRunner {
 public:
  struct Services {
    controller::Store& store;
    controller::StepTracker& steps;
    controller::AgentHub& hub;
  };

  // `record` is the rollout as stored and `last_seq` its newest stored
  // event. The progress is read from the record (ReadProgress).
  static Result<std::unique_ptr<RolloutRunner>> Load(Services services, v1::Rollout record,
                                                     std::uint64_t last_seq);
  ~RolloutRunner();  // Stop()

  // Starts deciding on a thread of its own. `resumed` (the controller
  // restarted): hosts stored as running get their steps sent again, and
  // for kReconnectGrace agents not connected yet are not counted offline
  // (they are reconnecting, with back-off, to the new controller).
  void Start(bool resumed = false);
  static constexpr std::chrono::seconds kReconnectGrace{60};
  // Controller shutdown: stops deciding and stops waiting for host deploys
  // without cancelling anything on the agents and without storing anything
  // more; the next Load + Start resumes. Idempotent.
  void Stop();

  // Pause, resume or abort (with `cancel_running`: cancel the running
  // hosts' steps too), stored before it takes effect. FailedPrecondition
  // when the state does not allow it (engine.h rule 10).
  Result<v1::Rollout> Control(const v1::ControlRolloutRequest& request, const std::string& actor);

  v1::Rollout Snapshot() const;
  std::uint64_t last_seq() const;
  // Final state and no host running.
  bool done() const;
  // Hosts of the rollout while it is not done (one rollout per host).
  std::vector<std::string> BusyHosts() const;
  // Waits until an event after `seq` is stored, the rollout is done, or
  // `timeout` passes.
  void WaitAfter(std::uint64_t seq, std::chrono::milliseconds timeout) const;

 private:
  // Something that happened, queued for the decision loop.
  struct Happening {
    std::string host;
    std::optional<bool> result_ok;  // set: the host's deploy finished
    std::string reason;             // result: why it failed
    v1::RolloutEvent step_event;    // otherwise: a step event
  };

  RolloutRunner(Services services, v1::Rollout record, RolloutProgress progress,
                std::uint64_t last_seq);
  void Loop();
  // One round: applies what happened, decides, stores, acts. False when the
  // store refused the write (nothing was acted on; it is retried).
  bool DecideLocked();
  // Step events of a host stored since its last host-started event.
  struct Recorded {
    int started = 0;
    int finished = 0;
  };
  // `recorded` (a resumed host): the agent answers those steps from its
  // journal, and their events are not stored twice.
  void LaunchLocked(const std::string& host, Recorded recorded);
  std::map<std::string, Recorded> RecordedStepsLocked();
  void CancelLocked(const std::string& host);
  // Stores `header` (SerializeHeader of record_), the hosts in
  // changed_hosts_ and `events` (numbered here) in one write. False
  // (nothing changed) when the store refused it.
  bool SaveLocked(std::string header, std::vector<v1::RolloutEvent>& events);
  // Puts record_ and progress_ back to what was last stored (after a
  // refused write). Crashes if the stored bytes do not read back: they were
  // written by this runner.
  void RestoreStoredLocked();
  void IndexHostsLocked();
  // WriteProgress of progress_ into record_, noting the hosts it changed.
  void WriteProgressLocked();
  v1::RolloutEvent EventLocked(const std::string& host, std::string kind, std::string message);
  // `host`'s entry in record_, or null; also sets `slot` (when given) to
  // its position, which is progress_'s too (same layout; the engine checks
  // the slot before using it).
  v1::RolloutHost* HostRecordLocked(const std::string& host, HostSlot* slot = nullptr);
  // The same, for a change: the host is stored with the round.
  v1::RolloutHost* ChangeHostLocked(const std::string& host);

  Services services_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;               // the loop: something happened
  mutable std::condition_variable changed_;    // watchers: events were stored
  v1::Rollout record_;                         // guarded; as last stored
  // guarded; record_ as last stored: its header and each host serialized
  // (stored_hosts_[pool][position]), to put it back after a refused write
  std::string stored_header_;
  std::vector<std::vector<std::string>> stored_hosts_;
  // guarded; (pool, position) of the hosts record_ has changed since the
  // last write
  std::set<std::pair<int, int>> changed_hosts_;
  // guarded; host fqdn -> (pool, host) index in record_, rebuilt when stale
  std::unordered_map<std::string, HostSlot> host_index_;
  RolloutProgress progress_;                   // guarded; as last stored
  std::uint64_t last_seq_ = 0;                 // guarded
  std::vector<Happening> inbox_;               // guarded
  std::unordered_set<std::string> deploying_;  // guarded; hosts started on driver_
  std::optional<TimePoint> wake_at_;           // guarded
  bool done_ = false;                          // guarded
  bool stopping_ = false;                      // guarded
  std::chrono::steady_clock::time_point reconnect_grace_until_;  // guarded
  // When the hosts' connections were last checked (once per tick: a
  // check asks the hub about every waiting or running host).
  std::chrono::steady_clock::time_point connectivity_checked_at_;  // guarded
  std::thread thread_;
  controller::DeployDriver driver_;  // last: stopped first, while the rest is alive
};

}  // namespace topos::rollout
