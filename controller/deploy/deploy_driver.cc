#include "controller/deploy/deploy_driver.h"

#include <utility>

namespace topos::controller {
namespace {

// How often deadlines and cancellations are looked at.
constexpr std::chrono::milliseconds kTickInterval{100};

}  // namespace

void DeployDriver::Inbox::Post(Work item) {
  std::lock_guard lock(mutex);
  if (stopping) return;
  work.push_back(std::move(item));
  ready.notify_one();
}

DeployDriver::DeployDriver(StepTracker& tracker, std::chrono::seconds grace)
    : tracker_(tracker), grace_(grace) {}

DeployDriver::~DeployDriver() { Stop(); }

void DeployDriver::Start(std::string fqdn, std::vector<topos::v1::RunStep> steps,
                         StepSequence::EventSink sink, Done done) {
  std::call_once(thread_started_, [this] { thread_ = std::thread([this] { Loop(); }); });
  inbox_->Post({Work::Kind::kStart, std::move(fqdn), std::move(steps), std::move(sink),
                std::move(done), {}});
}

void DeployDriver::Cancel(const std::string& fqdn) {
  inbox_->Post({Work::Kind::kCancel, fqdn, {}, {}, {}, {}});
}

void DeployDriver::Stop() {
  {
    std::lock_guard lock(inbox_->mutex);
    inbox_->stopping = true;
    inbox_->work.clear();
  }
  inbox_->ready.notify_all();
  std::call_once(thread_started_, [] {});  // from here on, no thread starts
  std::lock_guard stop_lock(stop_mutex_);
  if (thread_.joinable()) thread_.join();
}

void DeployDriver::Loop() {
  auto next_tick = StepSequence::Clock::now() + kTickInterval;
  for (;;) {
    std::deque<Work> batch;
    {
      std::unique_lock lock(inbox_->mutex);
      auto arrived = [&] { return inbox_->stopping || !inbox_->work.empty(); };
      // Nothing running (say, a paused rollout): nothing to tick either.
      if (running_.empty()) {
        inbox_->ready.wait(lock, arrived);
      } else {
        inbox_->ready.wait_until(lock, next_tick, arrived);
      }
      if (inbox_->stopping) break;
      batch.swap(inbox_->work);
    }
    auto now = StepSequence::Clock::now();
    for (auto& work : batch) Apply(work, now);
    if (now < next_tick) continue;
    next_tick = now + kTickInterval;
    std::vector<std::string> finished;
    for (auto& [fqdn, running] : running_) {
      running.sequence->Tick(running.cancelled, now);
      if (running.sequence->finished()) finished.push_back(fqdn);
    }
    for (const auto& fqdn : finished) ReapIfFinished(fqdn);
  }
  for (auto& [fqdn, running] : running_) running.sequence->Abandon();
  running_.clear();
}

void DeployDriver::Apply(Work& work, StepSequence::Clock::time_point now) {
  auto it = running_.find(work.fqdn);
  switch (work.kind) {
    case Work::Kind::kStart: {
      if (it != running_.end()) return;
      Running running;
      running.sequence = std::make_unique<StepSequence>(tracker_, work.fqdn, std::move(work.steps),
                                                        std::move(work.sink), grace_);
      running.done = std::move(work.done);
      StepSequence* sequence = running.sequence.get();
      running_.emplace(work.fqdn, std::move(running));
      std::weak_ptr<Inbox> inbox = inbox_;
      sequence->Begin(
          [inbox, fqdn = work.fqdn](const topos::v1::StepUpdate& update) {
            if (auto live = inbox.lock()) live->Post({Work::Kind::kUpdate, fqdn, {}, {}, {}, update});
          },
          now);
      break;
    }
    case Work::Kind::kUpdate:
      if (it == running_.end()) return;
      it->second.sequence->OnUpdate(work.update, now);
      break;
    case Work::Kind::kCancel:
      if (it == running_.end()) return;
      it->second.cancelled = true;
      it->second.sequence->Tick(true, now);
      break;
  }
  ReapIfFinished(work.fqdn);
}

void DeployDriver::ReapIfFinished(const std::string& fqdn) {
  auto it = running_.find(fqdn);
  if (it == running_.end() || !it->second.sequence->finished()) return;
  Done done = std::move(it->second.done);
  bool ok = it->second.sequence->ok();
  running_.erase(it);
  if (done) done(ok);
}

}  // namespace topos::controller
