// What a CA rotation needs from the rest of the controller: push the trust
// bundle and see who holds it, ask agents to renew their identity, re-sign
// the CRL, and reissue the service certificates through a rollout.
// ControllerCaFleet is the controller's; tests use a fake.
//
// Thread-safety: implementations are safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "controller/ca/crl_publisher.h"
#include "controller/hub/agent_hub.h"
#include "controller/hub/trust_publisher.h"
#include "controller/rollout/rollout_manager.h"

namespace topos::controller {

class CaRotationFleet {
 public:
  struct Trust {
    std::uint32_t online = 0;     // agents connected now
    std::uint32_t confirmed = 0;  // of them, holding the bundle last published
    std::vector<std::string> waiting;  // online hosts not yet confirmed, sorted
  };
  struct RolloutState {
    std::string state;   // running | paused | failed | aborted | succeeded | ...
    bool done = false;   // final state and no host running
    std::string reason;  // why it stopped, if it did
  };

  virtual ~CaRotationFleet() = default;
  // Every connected agent (and every agent that connects later) is sent
  // this bundle with the current CRL; idempotent for the same bundle.
  virtual void PublishBundle(const std::string& bundle_pem) = 0;
  virtual Trust CheckTrust() = 0;
  virtual std::vector<std::string> ConnectedHosts() = 0;
  // Sends RenewIdentity to `fqdn`; false if it is not connected.
  virtual bool RequestRenewal(const std::string& fqdn) = 0;
  // Signs a new CRL at once (with the CA that signs now).
  virtual Status ResignCrl() = 0;
  // Starts a rollout that reissues every service certificate; returns its
  // id, or "" when there is no service certificate to reissue.
  virtual Result<std::string> StartCertificateRollout(const std::string& actor) = 0;
  virtual Result<RolloutState> GetRolloutState(const std::string& id) = 0;  // NotFound
};

// The controller's fleet. Every reference must outlive it.
class ControllerCaFleet final : public CaRotationFleet {
 public:
  ControllerCaFleet(TrustPublisher& trust, AgentHub& hub, CrlPublisher& crl,
                    rollout::RolloutManager& rollouts)
      : trust_(trust), hub_(hub), crl_(crl), rollouts_(rollouts) {}

  void PublishBundle(const std::string& bundle_pem) override;
  Trust CheckTrust() override;
  std::vector<std::string> ConnectedHosts() override;
  bool RequestRenewal(const std::string& fqdn) override;
  Status ResignCrl() override;
  Result<std::string> StartCertificateRollout(const std::string& actor) override;
  Result<RolloutState> GetRolloutState(const std::string& id) override;

 private:
  TrustPublisher& trust_;
  AgentHub& hub_;
  CrlPublisher& crl_;
  rollout::RolloutManager& rollouts_;
};

}  // namespace topos::controller
