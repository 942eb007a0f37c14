// Runs deployment steps on this host. Steps arrive from the controller
// (RunStep) and run one at a time, in arrival order, on the executor's own
// thread; each is journaled before it starts and when it ends. A step id
// seen before is not run again: its journaled outcome is reported instead,
// so a reconnect never makes a step run twice. Steps cut off by a crash are
// run again on start (they are idempotent).
//
// Updates (output chunks and the final outcome) go to the sink set with
// SetSink. With no sink (disconnected) output is dropped and final outcomes
// are kept, then sent when a sink is set again (they are also in the
// journal the next Hello carries; the controller ignores duplicates).
//
// Also owns the service manager's tick (restart policies) on a timer, and
// the services' trust files (RefreshServiceTrust).
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/steps/step_context.h"
#include "agent/steps/step_runner.h"
#include "topos/v1/agent.pb.h"

namespace topos::agent {

class StepExecutor : public StepRunner {
 public:
  explicit StepExecutor(StepContext context);
  ~StepExecutor() override;  // cancels the running step and joins

  // Re-adopts services and re-queues interrupted steps, then starts the thread.
  void Start();
  void Stop();

  void SetSink(UpdateSink sink) override;
  // Queues a step. An invalid RunStep is answered at once with FAILED.
  void Submit(const topos::v1::RunStep& step) override;
  // Cancels a queued or running step; unknown ids are ignored.
  void Cancel(const std::string& step_id) override;

  // For Hello: the newest journal outcomes (running ones included).
  std::vector<topos::v1::StepUpdate> RecentOutcomes(std::size_t limit = 200) override;
  // For Hello and heartbeats: the services installed here.
  std::vector<topos::v1::ServiceReport> ServiceReports() override;

  // Waits until no step is queued or running (tests). False on timeout.
  bool WaitIdle(std::chrono::milliseconds timeout);

  // True while a step about `service` is queued or running (the certificate
  // renewer leaves such a service alone).
  bool Busy(const std::string& service);
  // True while the step `step_id` is queued or running (its final outcome
  // may already be journaled while it is being reported).
  bool InFlight(const std::string& step_id);

  // Replaces the CA file (the binding's ca_file, which assign_certificate
  // writes) of every installed service with a certificate binding and an
  // assigned certificate by `ca_bundle_pem`, atomically, so services that
  // verify their peers trust every CA in the bundle (both, during a CA
  // rotation). Services without a binding are left alone; files already
  // holding the bundle are not rewritten. The bundle also wins over the one
  // a later assign_certificate writes. Returns how many files were
  // rewritten; InvalidArgument (nothing written) if the bundle is not PEM
  // certificates; otherwise the first write error, after trying every
  // service. Blocks only on disk, never on a running step.
  Result<int> RefreshServiceTrust(const std::string& ca_bundle_pem);

 private:
  void Loop();
  struct Queued {
    topos::v1::RunStep step;
    std::chrono::steady_clock::time_point received_at;
  };
  void RunOne(const Queued& queued);
  void Emit(const topos::v1::StepUpdate& update);
  // Writes `bundle` to the CA file of `service` if it has a binding and an
  // assigned certificate. True if the file changed. trust_mutex_ held.
  Result<bool> WriteServiceTrust(const std::string& service, const std::string& bundle);

  StepContext context_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;                  // guarded
  std::string running_id_;                    // guarded
  std::string running_service_;               // guarded
  std::shared_ptr<std::atomic<bool>> running_cancel_;  // guarded
  UpdateSink sink_;                           // guarded
  std::vector<topos::v1::StepUpdate> undelivered_;  // final outcomes while no sink; guarded
  bool stopping_ = false;                     // guarded
  std::mutex trust_mutex_;  // serializes writes of services' CA files
  std::string trust_bundle_;  // the last RefreshServiceTrust bundle; guarded by trust_mutex_
  std::mutex join_mutex_;  // serializes joining thread_ (Stop from two threads)
  std::thread thread_;
};

}  // namespace topos::agent
