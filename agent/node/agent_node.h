// A whole agent in one object: the link to the controller, the step
// executor, the service certificate renewer and the service manager, wired
// together over one state directory. `topos-agent run` is one AgentNode; integration tests run
// several in one process.
//
// Thread-safety: Start/Stop/Wait from the owning thread; accessors from any.
#pragma once

#include <memory>

#include "agent/link/controller_link.h"
#include "agent/service/service_manager.h"
#include "agent/steps/certificate_renewer.h"
#include "agent/steps/step_executor.h"
#include "common/status.h"

namespace topos::agent {

struct NodeOptions {
  LinkOptions link;
  ServiceManagerKind service_manager = ServiceManagerKind::kAuto;
  // When and how the agent renews its services' certificates on its own.
  RenewerOptions renewer;
};

class AgentNode {
 public:
  AgentNode(std::filesystem::path state_dir, NodeOptions options);
  ~AgentNode();

  // Loads the identity, opens the journal, re-adopts services, connects.
  Status Start();
  // Stops the link and the executor; services keep running.
  void Stop();
  Status Wait();

  ControllerLink& link() { return *link_; }
  StepExecutor& steps() { return *executor_; }
  CertificateRenewer& renewer() { return *renewer_; }
  ServiceManager& services() { return *services_; }

 private:
  const std::filesystem::path state_dir_;
  NodeOptions options_;
  std::shared_ptr<ServiceManager> services_;
  std::unique_ptr<StepExecutor> executor_;
  std::unique_ptr<CertificateRenewer> renewer_;
  std::unique_ptr<ControllerLink> link_;
};

}  // namespace topos::agent
