// What the controller link needs from whatever runs deployment steps on this
// host: the agent's StepExecutor (real steps, journaled), or a stand-in such
// as the swarm benchmark's no-op runner for simulated agents.
//
// Contract every implementation keeps (the controller relies on it):
// - each submitted step gets exactly one final StepUpdate (SUCCEEDED, FAILED,
//   PENDING or CANCELLED) through the sink, possibly after RUNNING updates;
// - a step id seen before is never run again: its recorded outcome is sent
//   instead (a reconnect resends steps);
// - final outcomes produced while no sink is set are kept and delivered when
//   a sink is set again;
// - Submit and Cancel return quickly (they are called on the link's thread).
//
// Thread-safety: implementations make every method safe from any thread.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "topos/v1/agent.pb.h"

namespace topos::agent {

class StepRunner {
 public:
  // Receives every update; called on any thread, never with a lock held
  // that the runner's own methods take.
  using UpdateSink = std::function<void(const topos::v1::StepUpdate&)>;

  virtual ~StepRunner() = default;

  // Sets (or, with an empty function, clears) where updates go. Final
  // outcomes held while no sink was set are delivered to the new sink.
  virtual void SetSink(UpdateSink sink) = 0;
  // Takes a step to run; returns without waiting for it to finish.
  virtual void Submit(const topos::v1::RunStep& step) = 0;
  // Cancels a queued or running step; unknown or finished ids are ignored.
  virtual void Cancel(const std::string& step_id) = 0;
  // For Hello: the newest step outcomes (running ones included).
  virtual std::vector<topos::v1::StepUpdate> RecentOutcomes(std::size_t limit = 200) = 0;
  // For Hello, heartbeats and final updates: the services installed here.
  virtual std::vector<topos::v1::ServiceReport> ServiceReports() = 0;
};

}  // namespace topos::agent
