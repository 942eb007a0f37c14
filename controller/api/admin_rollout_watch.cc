// AdminService: WatchRollout, the rollout's stored events as they happen,
// with snapshots of the rollout, until it is done.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "controller/api/admin_service.h"

namespace topos::controller {
namespace {

// How long one wait for new events lasts before the snapshot is sent again
// if it changed (host phases change without events only through due times).
constexpr std::chrono::milliseconds kPollInterval{1000};
// A snapshot carries every host of the rollout (about a megabyte at 10,000
// hosts), so events go out as they are stored but snapshots at most this
// often; the last update always carries one.
constexpr std::chrono::milliseconds kSnapshotSpacing{500};

// One WatchRollout call. A thread of its own waits for events and writes one
// update at a time (the next waits for the previous write). Deletes itself
// in OnDone, after its thread has stopped.
class WatchReactor final : public grpc::ServerWriteReactor<topos::v1::RolloutUpdate> {
 public:
  WatchReactor(ControllerContext& context, grpc::CallbackServerContext* call,
               const topos::v1::WatchRolloutRequest& request)
      : context_(context), call_(call), request_(request) {
    // Held so that OnDone, however early, sees worker_ assigned.
    std::lock_guard lock(mutex_);
    worker_ = std::thread([this] { Watch(); });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) cancelled_ = true;
    written_.notify_all();
  }
  void OnCancel() override {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    written_.notify_all();
  }
  void OnDone() override {
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
      written_.notify_all();
    }
    // OnDone may run inline on the worker's own Finish call.
    if (worker_.get_id() == std::this_thread::get_id()) {
      worker_.detach();
    } else if (worker_.joinable()) {
      worker_.join();
    }
    delete this;
  }

 private:
  void Watch() {
    Caller caller;
    grpc::Status status =
        AuthorizeOperator(*call_, context_.revocations, context_.store, kAnyRole, &caller);
    if (!status.ok()) return Finish(status);
    std::uint64_t seq = request_.after_seq();
    std::string last_snapshot;
    // The first read that catches up with the stored events sends one.
    auto snapshot_due = std::chrono::steady_clock::now();
    // events went out since the last snapshot
    bool snapshot_behind = !request_.final_snapshot_only();
    bool done = false;
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (cancelled_) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
      }
      // Read before the events: once done, every event is stored, so the
      // page that catches up with them is the last. Done never reverts, and
      // for a finished rollout asking means reading its whole stored record,
      // so a replay asks once rather than once per page.
      if (!done) {
        auto stored = context_.rollouts.Done(request_.id());
        if (!stored.ok()) return Finish(ToGrpc(stored.status()));
        done = *stored;
      }
      auto wait = kPollInterval;
      if (snapshot_behind) {
        wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(
                              snapshot_due - std::chrono::steady_clock::now()),
                          std::chrono::milliseconds(0), kPollInterval);
      }
      if (done) wait = std::chrono::milliseconds(0);
      auto page = context_.rollouts.WaitForEvents(request_.id(), seq, wait);
      if (!page.ok()) return Finish(ToGrpc(page.status()));
      topos::v1::RolloutUpdate update;
      for (auto& event : page->events) *update.add_events() = std::move(event);
      if (update.events_size() > 0) {
        seq = update.events(update.events_size() - 1).seq();
        snapshot_behind = !request_.final_snapshot_only();
      }
      const bool last = done && !page->more;
      const auto now = std::chrono::steady_clock::now();
      if (last || (!request_.final_snapshot_only() && !page->more && now >= snapshot_due)) {
        auto rollout = context_.rollouts.Get(request_.id());
        if (!rollout.ok()) return Finish(ToGrpc(rollout.status()));
        std::string snapshot = rollout->SerializeAsString();
        if (last || snapshot != last_snapshot) {
          *update.mutable_rollout() = std::move(*rollout);
          last_snapshot = std::move(snapshot);
        }
        snapshot_due = now + kSnapshotSpacing;
        snapshot_behind = false;
      }
      if (update.events_size() > 0 || update.has_rollout()) {
        if (!WriteAndWait(std::move(update))) {
          return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "watch stream broken"));
        }
      }
      if (last) return Finish(grpc::Status::OK);
    }
  }

  bool WriteAndWait(topos::v1::RolloutUpdate update) {
    std::unique_lock lock(mutex_);
    if (cancelled_) return false;
    pending_ = std::move(update);
    writing_ = true;
    StartWrite(&pending_);
    written_.wait(lock, [this] { return !writing_ || cancelled_; });
    return !cancelled_;
  }

  ControllerContext& context_;
  grpc::CallbackServerContext* call_;
  const topos::v1::WatchRolloutRequest request_;
  std::mutex mutex_;
  std::condition_variable written_;
  topos::v1::RolloutUpdate pending_;  // guarded; the write in flight
  bool writing_ = false;              // guarded
  bool cancelled_ = false;            // guarded
  std::thread worker_;
};

}  // namespace

grpc::ServerWriteReactor<topos::v1::RolloutUpdate>* AdminServiceHandler::WatchRollout(
    grpc::CallbackServerContext* context, const topos::v1::WatchRolloutRequest* request) {
  return new WatchReactor(context_, context, *request);
}

}  // namespace topos::controller
