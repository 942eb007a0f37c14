// One agent's Connect stream on the controller (gRPC callback API): reads
// Hello then Heartbeats, keeps one read and one write in flight, queues
// outbound messages, and ends the stream when asked (Close).
//
// Lifetime: created by AgentServiceHandler::Connect, deletes itself in
// OnDone. Thread-safety: gRPC serializes the On* reactions of one stream;
// Close() may come from any thread and is guarded by mutex_.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <deque>
#include <mutex>
#include <string>

#include "controller/hub/agent_hub.h"
#include "topos/v1/agent.grpc.pb.h"

namespace topos::controller {

class AgentStream final
    : public grpc::ServerBidiReactor<topos::v1::AgentMessage, topos::v1::ControllerMessage>,
      public AgentConnection {
 public:
  AgentStream(AgentHub& hub, std::string fqdn);

  void Close(const std::string& reason, std::uint32_t retry_after_seconds) override;
  void Send(topos::v1::ControllerMessage message) override;

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;
  void OnCancel() override {}

 private:
  // Both require mutex_ held.
  void SendLocked(topos::v1::ControllerMessage message);
  void FinishLocked(grpc::Status status);
  // Returns an error for a message that breaks the protocol.
  grpc::Status Handle(const topos::v1::AgentMessage& message);

  AgentHub& hub_;
  const std::string fqdn_;
  bool attached_ = false;       // written once in the constructor
  bool hello_received_ = false; // only touched by OnReadDone
  topos::v1::AgentMessage incoming_;  // the one read in flight

  std::mutex mutex_;
  std::deque<topos::v1::ControllerMessage> outbox_;  // guarded; front is in flight
  bool started_ = false;          // guarded: initial metadata sent, writes may start
  bool write_in_flight_ = false;                     // guarded
  bool finishing_ = false;                           // guarded: Finish requested
  std::optional<grpc::Status> finish_after_writes_;  // guarded
};

}  // namespace topos::controller
