#include "controller/deploy/host_deploy.h"

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "controller/deploy/step_sequence.h"

namespace topos::controller {
namespace {

// Updates handed from the tracker's threads to the deploy's. Shared, so a
// late update finds it alive after Run has returned.
struct Mailbox {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<topos::v1::StepUpdate> updates;
};

}  // namespace

bool HostDeploy::Run(const std::atomic<bool>& cancelled, std::chrono::seconds grace) {
  auto mailbox = std::make_shared<Mailbox>();
  StepSequence sequence(tracker_, fqdn_, steps_, sink_, grace);
  sequence.Begin(
      [mailbox](const topos::v1::StepUpdate& update) {
        std::lock_guard lock(mailbox->mutex);
        mailbox->updates.push_back(update);
        mailbox->ready.notify_all();
      },
      StepSequence::Clock::now());
  while (!sequence.finished()) {
    std::deque<topos::v1::StepUpdate> batch;
    {
      std::unique_lock lock(mailbox->mutex);
      mailbox->ready.wait_for(lock, std::chrono::milliseconds(100),
                              [&] { return !mailbox->updates.empty(); });
      batch.swap(mailbox->updates);
    }
    for (auto& update : batch) sequence.OnUpdate(update, StepSequence::Clock::now());
    sequence.Tick(cancelled.load(), StepSequence::Clock::now());
  }
  return sequence.ok();
}

}  // namespace topos::controller
