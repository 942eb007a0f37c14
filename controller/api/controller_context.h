// What the controller's RPC handlers share: the store, the CA, tokens, the
// live hub, the revocation list, the CRL publisher and the executor that
// runs blocking work.
// Owned by ControllerServer; handlers hold a reference.
#pragma once

#include <string>

#include "common/executor.h"
#include "controller/artifacts/artifact_store.h"
#include "controller/certificates/service_certificates.h"
#include "controller/deploy/step_tracker.h"
#include "controller/ca/ca_rotation.h"
#include "controller/ca/certificate_issuer.h"
#include "controller/ca/crl_publisher.h"
#include "controller/ca/revocation_list.h"
#include "controller/hub/agent_hub.h"
#include "controller/hub/trust_publisher.h"
#include "controller/replication/replicator.h"
#include "controller/rollout/rollout_manager.h"
#include "controller/store/store.h"
#include "controller/tokens/token_service.h"

namespace topos::controller {

struct ControllerContext {
  Store& store;
  CertificateIssuer& issuer;
  TokenService& tokens;
  AgentHub& hub;
  RevocationList& revocations;
  CrlPublisher& crl;  // re-signed after every revocation
  Executor& executor;
  Replicator& replicator;
  ArtifactStore& artifacts;
  ServiceCertificates& certificates;
  StepTracker& steps;
  rollout::RolloutManager& rollouts;
  TrustPublisher& trust;  // the CA bundle and CRL every agent holds
  CaRotation& ca_rotation;
  std::string advertised_address;  // HOST:PORT agents dial; printed in enroll commands
  // How long after its expiry an agent identity may still be recovered
  // (AgentService.RecoverIdentity) instead of enrolling anew.
  std::chrono::seconds identity_grace{30 * 24 * 3600};
};

}  // namespace topos::controller
