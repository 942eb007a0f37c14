// What a certificate rollout (`toposctl certs rollout`) covers: the selected
// enrolled hosts and, for each service the published topology places on a
// host with a certificate binding, the steps request_certificate (reissue
// as asked) then assign_certificate. The agent's assign step installs the
// certificate, reloads or restarts the service and checks its health.
//
// Selection: exactly one of hosts, pools or all. Hosts of the selected pools
// (or of the whole topology) that are not enrolled, or that run no service
// with a certificate binding, are left out with a note. A host in several
// pools (collocated pools) is renewed once, in the first of them.
//
// Stages: certificates do not depend on each other, so every selected pool
// is in one stage, in topology order; the engine's windows, canaries and
// failure rules apply per pool exactly as for deploy rollouts.
//
// Pure: no store, network or clock. Thread-safe (no state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "controller/rollout/progress.h"
#include "controller/rollout/rollout_builder.h"

namespace topos::rollout {

struct CertificateSelection {
  std::vector<std::string> hosts;  // --host (each must be in a pool and enrolled)
  std::vector<std::string> pools;  // --pool (each must be a pool of the topology)
  bool all = false;                // --all
  bool reissue = false;            // RunStep.reissue of every request_certificate step
};

// `input.only_hosts`, `roles` and `resolve` are not used. InvalidArgument
// when not exactly one of hosts, pools and all is given, for a --host the
// topology puts in no pool or that is not enrolled, and for an unknown
// --pool (each naming it); FailedPrecondition when no selected host has a
// service with a certificate binding (naming why hosts were left out).
Result<BuiltRollout> BuildCertificateRollout(const BuildInput& input,
                                             const CertificateSelection& selection);

// The most a certificate rollout may be scheduled ahead, and how far in the
// past an --effective-at may be (clock skew, a slow typist) and still mean
// "now".
inline constexpr std::chrono::hours kMaxScheduleAhead{30 * 24};
inline constexpr std::chrono::seconds kEffectiveAtPastSlack{60};

// `effective_at_unix` (0: now) at `now`: InvalidArgument when it is more
// than kEffectiveAtPastSlack in the past or more than kMaxScheduleAhead
// ahead, with the time named.
Status CheckEffectiveAt(std::int64_t effective_at_unix, TimePoint now);

}  // namespace topos::rollout
