// What every host must trust — the CA bundle (one CA, two during a CA
// rotation) and the CA's current CRL — pushed to the agents as TrustUpdate
// and tracked per host, so that a CA rotation can wait until the online
// hosts hold the new bundle.
//
// - An agent whose Hello names another generation gets the current one at
//   once; every connected agent gets it when the bundle or the CRL changes.
// - A host counts as confirmed once it answers TrustApplied{ok} with the
//   current generation (or says so in Hello).
//
// Thread-safety: every method is safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "controller/hub/agent_hub.h"
#include "topos/v1/agent.pb.h"

namespace topos::controller {

class TrustPublisher {
 public:
  explicit TrustPublisher(AgentHub& hub) : hub_(hub) {}

  // Replace one half of what is pushed; if the generation changes, every
  // connected agent is sent the new TrustUpdate.
  void PublishBundle(std::string ca_bundle_pem);
  void PublishCrl(std::string crl_pem);

  // The generation agents must hold now (hex SHA-256 of bundle + CRL).
  std::string generation() const;
  std::string bundle_pem() const;

  // From the agent stream.
  void OnHello(const std::string& fqdn, const std::string& agent_generation);
  void OnApplied(const std::string& fqdn, const topos::v1::TrustApplied& applied);

  struct Convergence {
    std::string generation;
    std::uint32_t online = 0;     // agents connected now
    std::uint32_t confirmed = 0;  // of them, holding `generation`
    std::vector<std::string> waiting;  // online hosts not yet confirmed, sorted
  };
  // Only the bundle counts when `bundle_only` (a CRL re-signed meanwhile
  // must not hold a CA rotation back): a host confirmed any generation
  // carrying the current bundle.
  Convergence Check(bool bundle_only = true) const;

 private:
  topos::v1::ControllerMessage UpdateLocked() const;
  void PushToAllLocked();

  AgentHub& hub_;
  mutable std::mutex mutex_;
  std::string bundle_pem_;  // guarded
  std::string crl_pem_;     // guarded
  std::string generation_;  // guarded
  // generation -> bundle it carried, for bundle-only convergence.
  std::map<std::string, std::string> bundle_of_generation_;  // guarded
  std::map<std::string, std::string> held_;                 // fqdn -> generation; guarded
};

// Hex SHA-256 of `ca_bundle_pem` + `crl_pem`, the TrustUpdate generation.
std::string TrustGeneration(const std::string& ca_bundle_pem, const std::string& crl_pem);

}  // namespace topos::controller
