// A hub with N attached hosts whose streams record what the controller
// sends them, for tests of what runs steps on agents (StepSequence,
// DeployDriver) without a network.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "controller/deploy/step_tracker.h"
#include "controller/hub/agent_hub.h"
#include "controller/store/sqlite_store.h"
#include "tests/support/temp_dir.h"

namespace topos::controller::test_support {

class RecordingConnection : public AgentConnection {
 public:
  void Close(const std::string&, std::uint32_t) override {}
  void Send(topos::v1::ControllerMessage message) override {
    std::lock_guard lock(mutex_);
    sent_.push_back(std::move(message));
  }
  std::vector<topos::v1::ControllerMessage> Sent() const {
    std::lock_guard lock(mutex_);
    return sent_;
  }
  // Step ids of the RunStep (or CancelStep) messages sent so far, in order.
  std::vector<std::string> RunStepIds() const { return Ids(false); }
  std::vector<std::string> CancelStepIds() const { return Ids(true); }

 private:
  std::vector<std::string> Ids(bool cancels) const {
    std::vector<std::string> ids;
    for (const auto& message : Sent()) {
      if (!cancels && message.has_run_step()) ids.push_back(message.run_step().step_id());
      if (cancels && message.has_cancel_step()) ids.push_back(message.cancel_step().step_id());
    }
    return ids;
  }
  mutable std::mutex mutex_;
  std::vector<topos::v1::ControllerMessage> sent_;
};

class RecordingFleet {
 public:
  explicit RecordingFleet(int hosts) : connections_(hosts) {
    store_ = std::move(*SqliteStore::Open(dir_.path() / "topos.db"));
    reports_ = std::make_unique<ReportWriter>(*store_, std::chrono::milliseconds(1000));
    hub_ = std::make_unique<AgentHub>(*reports_);
    tracker_ = std::make_unique<StepTracker>(*hub_);
    for (int i = 0; i < hosts; ++i) {
      (void)hub_->Attach(Host(i), &connections_[i], std::chrono::system_clock::now());
    }
  }
  static std::string Host(int i) { return "host-" + std::to_string(i) + ".test"; }
  StepTracker& tracker() { return *tracker_; }
  RecordingConnection& connection(int i) { return connections_[i]; }
  // The agent's answer to step `step_id` on host `i`.
  void Answer(int i, const std::string& step_id, topos::v1::StepState state) {
    topos::v1::StepUpdate update;
    update.set_step_id(step_id);
    update.set_state(state);
    tracker_->OnStepUpdate(Host(i), update);
  }

 private:
  ::topos::test_support::TempDir dir_;
  std::vector<RecordingConnection> connections_;  // outlive the hub that points at them
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<ReportWriter> reports_;
  std::unique_ptr<AgentHub> hub_;
  std::unique_ptr<StepTracker> tracker_;
};

inline topos::v1::RunStep Step(const std::string& id, std::uint32_t deadline_seconds = 60) {
  topos::v1::RunStep step;
  step.set_step_id(id);
  step.set_kind(topos::v1::START_SERVICE);
  step.set_service("svc");
  step.set_deadline_seconds(deadline_seconds);
  return step;
}

}  // namespace topos::controller::test_support
