// ControllerLink::Session: one Connect stream of the agent's link, private
// to controller_link.cc (kept apart so each file has one job).
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include "agent/link/controller_link.h"
#include "topos/v1/agent.grpc.pb.h"

namespace topos::agent {

// One Connect stream (gRPC client callback API). One read and one write in
// flight; outbound messages queue. gRPC serializes the On* reactions; Send()
// and Cancel() may come from the loop thread, guarded by mutex_.
class ControllerLink::Session final
    : public grpc::ClientBidiReactor<topos::v1::AgentMessage, topos::v1::ControllerMessage> {
 public:
  // Hello goes first, ahead of anything Send() queued before the call
  // existed (step outcomes flushed when the sink is set).
  void Begin(topos::v1::AgentService::Stub& stub, topos::v1::AgentMessage hello) {
    stub.async()->Connect(&context_, this);
    {
      std::lock_guard lock(mutex_);
      outbox_.push_front(std::move(hello));
      begun_ = true;
      writing_ = true;
      StartWrite(&outbox_.front());
    }
    StartRead(&incoming_);
    StartCall();
  }

  // Queues `message`; it is written once Begin() has started the call.
  void Send(topos::v1::AgentMessage message) {
    std::lock_guard lock(mutex_);
    if (done_) return;
    outbox_.push_back(std::move(message));
    if (begun_ && !writing_) {
      writing_ = true;
      StartWrite(&outbox_.front());
    }
  }

  void Cancel() { context_.TryCancel(); }

  // Waits up to `timeout` for something to do: the stream ended (returns
  // true), a store update arrived, or, with `wake_on_accept`, the controller
  // accepted the stream.
  bool WaitEvent(std::chrono::milliseconds timeout, bool wake_on_accept) {
    std::unique_lock lock(mutex_);
    done_cv_.wait_for(lock, timeout, [&] {
      return done_ || !updates_.empty() || !commands_.empty() || (wake_on_accept && accepted_);
    });
    return done_;
  }

  // Store updates received since the last call, oldest first.
  std::deque<topos::v1::StoreUpdate> TakeUpdates() {
    std::lock_guard lock(mutex_);
    return std::exchange(updates_, {});
  }

  // RunStep / CancelStep messages received since the last call, oldest first.
  std::deque<topos::v1::ControllerMessage> TakeCommands() {
    std::lock_guard lock(mutex_);
    return std::exchange(commands_, {});
  }

  bool accepted() {
    std::lock_guard lock(mutex_);
    return accepted_;
  }
  grpc::Status status() {
    std::lock_guard lock(mutex_);
    return status_;
  }
  // The Goodbye the controller sent, if any.
  std::optional<topos::v1::Goodbye> goodbye() {
    std::lock_guard lock(mutex_);
    return goodbye_;
  }

  void OnReadInitialMetadataDone(bool ok) override {
    std::lock_guard lock(mutex_);
    accepted_ = ok;
    done_cv_.notify_all();
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    outbox_.pop_front();
    writing_ = false;
    if (ok && !outbox_.empty()) {
      writing_ = true;
      StartWrite(&outbox_.front());
    }
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status
    if (incoming_.has_goodbye()) {
      std::lock_guard lock(mutex_);
      goodbye_ = incoming_.goodbye();
    } else if (incoming_.has_store_update()) {
      // Applied on the link's thread: disk work stays off gRPC's threads.
      std::lock_guard lock(mutex_);
      updates_.push_back(std::move(*incoming_.mutable_store_update()));
      done_cv_.notify_all();
    } else if (incoming_.has_run_step() || incoming_.has_cancel_step() ||
               incoming_.has_trust_update() || incoming_.has_renew_identity()) {
      std::lock_guard lock(mutex_);
      commands_.push_back(incoming_);
      done_cv_.notify_all();
    }
    StartRead(&incoming_);
  }
  void OnDone(const grpc::Status& status) override {
    std::lock_guard lock(mutex_);
    status_ = status;
    done_ = true;
    done_cv_.notify_all();
  }

 private:
  grpc::ClientContext context_;
  topos::v1::ControllerMessage incoming_;
  std::mutex mutex_;
  std::condition_variable done_cv_;
  std::deque<topos::v1::AgentMessage> outbox_;  // guarded
  bool writing_ = false;                        // guarded
  bool begun_ = false;                          // guarded: Begin() has run
  bool accepted_ = false;                       // guarded
  bool done_ = false;                           // guarded
  grpc::Status status_;                         // guarded
  std::optional<topos::v1::Goodbye> goodbye_;   // guarded
  std::deque<topos::v1::StoreUpdate> updates_;  // guarded
  std::deque<topos::v1::ControllerMessage> commands_;  // guarded
};

}  // namespace topos::agent
