// The rollout planner: desired state (a host's slice of the published
// topology) against actual state (what the host last reported) gives the
// ordered changes that converge the host, each with the reason it is needed.
// A converged host gets none.
//
// The plan covers the whole chain, so it does not mislead about steps that
// depend on earlier ones: a planned install or certificate change also plans
// start_service (a restart, when the service runs now), and a planned install
// also plans check_prerequisites. The changes appear in the order
// PlanHostDeploy runs its steps (controller/deploy/deploy_plan.h).
//
// Rules, per service of the slice:
//   - install_service when the host does not have the slice's version
//     (after check_prerequisites);
//   - request_certificate + assign_certificate when the service has a
//     certificate binding and the host's certificate is missing, names other
//     DNS names than the agent would request (host FQDN, the FQDNs of the
//     pools it is a member of, the binding's extra names), or is due for
//     renewal: less than a third of a 30-day lifetime (10 days) remains;
//   - start_service after either of those, or when the service is not
//     running (installed, stopped, failed), or runs but reported unhealthy.
// And once per host: setup_local_store first, when the host's local store is
// not at the slice's version. A service the host reports that the slice no
// longer names is a note (uninstalling is an operator's decision), not a step.
//
// Pure: no store, no network, no clock of its own. Thread-safe (no state).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "controller/deploy/deploy_plan.h"
#include "topos/v1/agent.pb.h"
#include "topos/v1/topology.pb.h"

namespace topos::rollout {

// A service certificate is renewed when less than this much of its
// lifetime remains (a third of the 30 days service certificates live).
inline constexpr std::chrono::hours kCertificateRenewBefore{24 * 10};

// What a host reports, as the controller last heard it.
struct HostActual {
  std::uint64_t applied_config_version = 0;  // its local store's version; 0: none yet
  bool connected = false;                    // its agent's stream is live now
  // Installed services, each with its version, state, health and the names
  // and expiry of its assigned certificate.
  std::vector<v1::ServiceReport> services;
};

// One step the plan would run, and why.
struct PlannedChange {
  v1::StepKind kind = v1::STEP_KIND_UNSPECIFIED;
  std::string service;  // empty for setup_local_store
  std::string reason;   // for people: "install topos-pchat 6.0.9320 (host runs 6.0.9319)"
};

struct HostPlan {
  std::string host_fqdn;
  std::vector<PlannedChange> changes;  // in the order the deploy runs them
  std::vector<std::string> notes;      // worth knowing, not steps
  std::string error;                   // set: no plan (changes empty), and why

  // No change needed and no error.
  bool converged() const { return changes.empty() && error.empty(); }
};

// Plans one host. `now` judges certificate expiry. An artifact that
// `resolve` cannot find makes the plan an error (the deploy would fail
// before its first step), with `resolve`'s message.
HostPlan PlanHost(const v1::HostConfig& desired, const HostActual& actual,
                  const controller::ArtifactResolver& resolve,
                  std::chrono::system_clock::time_point now);

}  // namespace topos::rollout
