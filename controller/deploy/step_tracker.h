// Steps sent to agents and not finished yet, and who waits for each.
//
// A step goes to its host at once if the host is connected, otherwise when
// it next says Hello. A reconnecting agent's Hello carries its journal: a
// step it finished meanwhile is delivered from there, a step it is still
// running is left to report, and a step it never received is sent again
// (the agent runs each step id at most once, so resending is safe).
//
// Thread-safety: every method is safe from any thread. Observers are called
// outside the lock, possibly on gRPC threads: they must be quick.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "controller/hub/agent_hub.h"
#include "topos/v1/agent.pb.h"

namespace topos::controller {

class StepTracker {
 public:
  using Observer = std::function<void(const topos::v1::StepUpdate&)>;

  explicit StepTracker(AgentHub& hub) : hub_(hub) {}

  // Tracks `step` for `fqdn` and sends it if the host is connected. The
  // observer sees every update until the final one (then it is dropped).
  void Dispatch(const std::string& fqdn, const topos::v1::RunStep& step, Observer observer);
  // Asks the agent to cancel the step; the observer still gets the outcome.
  void Cancel(const std::string& fqdn, const std::string& step_id);
  // Stops tracking (the waiter gave up).
  void Forget(const std::string& fqdn, const std::string& step_id);

  // From the hub: an update on a live stream.
  void OnStepUpdate(const std::string& fqdn, const topos::v1::StepUpdate& update);
  // From the hub: a Hello with the agent's recent journal.
  void OnHello(const std::string& fqdn, const std::vector<topos::v1::StepUpdate>& journal);

  std::size_t in_flight() const;

 private:
  struct InFlight {
    topos::v1::RunStep step;
    Observer observer;
  };
  using Key = std::pair<std::string, std::string>;  // host, step id

  AgentHub& hub_;
  mutable std::mutex mutex_;
  std::map<Key, InFlight> in_flight_;  // guarded by mutex_
};

bool IsFinal(topos::v1::StepState state);

}  // namespace topos::controller
