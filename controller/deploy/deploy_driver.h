// Runs many hosts' step sequences on one thread. A rollout with a window
// of 10,000 hosts used to start a thread per host, each waking ten times a
// second to look at its step: the controller then had 10,000 threads, a
// load average of 10,000, and answered nothing for minutes. Here one
// thread applies every update as it arrives (the next step goes out at
// once) and checks deadlines and cancellations every 100 ms.
//
// The thread starts with the first host, so a driver that never runs one
// costs nothing.
//
// Thread-safety: Start, Cancel and Stop are safe from any thread and only
// queue work, so they may be called under the caller's own lock. Sinks and
// done callbacks run on the driver's thread, with no lock of the driver
// held, and never after Stop has returned; they must not call Stop.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "controller/deploy/step_sequence.h"

namespace topos::controller {

class DeployDriver {
 public:
  using Done = std::function<void(bool ok)>;

  DeployDriver(StepTracker& tracker, std::chrono::seconds grace);
  ~DeployDriver();  // Stop()

  // Runs `steps` on `fqdn`: its events go to `sink`, then `done` says
  // whether every step succeeded. Ignored while `fqdn` is still running.
  void Start(std::string fqdn, std::vector<topos::v1::RunStep> steps,
             StepSequence::EventSink sink, Done done);
  // Cancels the host's running step (StepSequence::Tick).
  void Cancel(const std::string& fqdn);
  // Abandons every sequence (StepSequence::Abandon: nothing is cancelled
  // on the agents and nothing more reported) and ends the thread.
  // Idempotent.
  void Stop();

 private:
  struct Work {
    enum class Kind { kStart, kUpdate, kCancel } kind;
    std::string fqdn;
    std::vector<topos::v1::RunStep> steps;  // kStart
    StepSequence::EventSink sink;           // kStart
    Done done;                              // kStart
    topos::v1::StepUpdate update;           // kUpdate
  };
  // The queue, shared with the tracker's routes, which may outlive us.
  struct Inbox {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Work> work;  // guarded
    bool stopping = false;  // guarded
    void Post(Work item);
  };
  struct Running {
    std::unique_ptr<StepSequence> sequence;
    Done done;
    bool cancelled = false;
  };

  void Loop();
  void Apply(Work& work, StepSequence::Clock::time_point now);
  // Calls `done` and forgets the host when its sequence has finished.
  void ReapIfFinished(const std::string& fqdn);

  StepTracker& tracker_;
  const std::chrono::seconds grace_;
  std::shared_ptr<Inbox> inbox_ = std::make_shared<Inbox>();
  std::unordered_map<std::string, Running> running_;  // the driver's thread only
  std::once_flag thread_started_;  // the thread starts with the first Start
  std::mutex stop_mutex_;          // serializes the join in Stop
  std::thread thread_;
};

}  // namespace topos::controller
