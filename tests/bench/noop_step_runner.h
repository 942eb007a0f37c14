// A StepRunner for simulated agents (topos-swarm): every step "runs" at once
// and does nothing on the host, so fleet rollouts can be measured at
// thousands of agents in one process. What the controller sees matches a
// real agent closely enough for a rollout to converge:
//
// - each new step id is answered on the caller's thread with one final
//   STEP_SUCCEEDED update whose summary starts with "no-op";
// - the runner keeps a simulated service table that the steps change as the
//   real ones would (install sets the version from the host's local store
//   slice, start marks it running and healthy, assign certificate sets the
//   names the planner wants, stop, uninstall, rollback), reported by
//   ServiceReports and on every final update;
// - a step id seen before is not run again: its remembered outcome is sent
//   again (the newest kMaxRemembered outcomes are remembered);
// - an invalid RunStep (bad id, unknown kind, bad service name) gets FAILED,
//   as from the StepExecutor; it counts as executed;
// - outcomes produced while no sink is set are kept (at most 200, the
//   oldest dropped) and sent when a sink is set;
// - Cancel has nothing to cancel: steps finish inside Submit.
//
// Thread-safety: every method may be called from any thread. The sink is
// called without the runner's lock held.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/steps/step_runner.h"

namespace topos::bench {

class NoOpStepRunner : public agent::StepRunner {
 public:
  static constexpr std::size_t kMaxRemembered = 4096;

  // `state_dir`: the simulated agent's state directory, whose local store
  // slice (store/current.json) gives installed versions and certificate
  // names; when unreadable, installs report version "no-op".
  explicit NoOpStepRunner(std::filesystem::path state_dir);

  void SetSink(UpdateSink sink) override;
  void Submit(const topos::v1::RunStep& step) override;
  void Cancel(const std::string& step_id) override;
  std::vector<topos::v1::StepUpdate> RecentOutcomes(std::size_t limit = 200) override;
  std::vector<topos::v1::ServiceReport> ServiceReports() override;

  // Steps executed (distinct step ids answered; resends not counted).
  std::uint64_t executed() const;
  // Submits of a step id already answered (answered from memory).
  std::uint64_t resent() const;

 private:
  // Applies `step` to the simulated services; returns its final update
  // (without services). Called with mutex_ held.
  topos::v1::StepUpdate Execute(const topos::v1::RunStep& step);
  std::vector<topos::v1::ServiceReport> ServiceReportsLocked() const;
  // Sends `update` to the sink, or keeps it for the next sink.
  void Deliver(const topos::v1::StepUpdate& update);

  const std::filesystem::path state_dir_;

  mutable std::mutex mutex_;
  UpdateSink sink_;                                                     // guarded
  std::map<std::string, topos::v1::ServiceReport> services_;           // guarded, by name
  std::unordered_map<std::string, topos::v1::StepUpdate> outcomes_;    // guarded, by step id
  std::deque<std::string> outcome_order_;                              // guarded, oldest first
  std::vector<topos::v1::StepUpdate> undelivered_;                      // guarded
  std::uint64_t executed_ = 0;                                          // guarded
  std::uint64_t resent_ = 0;                                            // guarded
};

}  // namespace topos::bench
