// The agent's identity certificate over time: when to renew it, renewing it
// over mutual TLS, and recovering it after it expired while the agent was
// offline (AgentService.RecoverIdentity: no client certificate, a proof
// signed with the old key instead).
//
// Thread-safety: free functions over their arguments only; the RPCs block
// for at most kDefaultCallTimeout.
#pragma once

#include <chrono>
#include <random>
#include <string>

#include "agent/state/agent_state.h"
#include "common/status.h"

namespace topos::agent {

// When to renew a certificate valid from `not_before` to `not_after`:
//   not_before + lifetime × (renew_at_fraction − jitter)
// `jitter` is clamped to [0, renew_at_fraction], so the time never falls
// before not_before nor after renew_at_fraction of the lifetime.
std::chrono::system_clock::time_point RenewalTime(std::chrono::system_clock::time_point not_before,
                                                  std::chrono::system_clock::time_point not_after,
                                                  double renew_at_fraction, double jitter);

// A jitter uniform in [0, max_jitter); 0 when max_jitter <= 0. Drawn once
// per link, so that a fleet enrolled at once does not renew at once.
double DrawRenewJitter(double max_jitter, std::mt19937_64& random);

// When an identity certificate is valid, parsed once: the link asks on
// every reconnect attempt and every heartbeat, and parsing a certificate
// costs more than the rest of a heartbeat.
struct IdentityValidity {
  bool readable = false;  // false: the PEM did not parse, so it counts as expired
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;

  static IdentityValidity Of(const std::string& certificate_pem);
  bool ExpiredAt(std::chrono::system_clock::time_point now) const {
    return !readable || now >= not_after;
  }
};

// A freshly issued identity, not yet saved.
struct NewIdentity {
  std::string certificate_pem;
  std::string private_key_pem;
  std::string ca_bundle_pem;  // the bundle to trust from now on
  std::string serial_hex;
};

// Renews over mutual TLS with state.identity: a new key, a CSR for the
// host, AgentService.Renew. Errors carry the controller's gRPC status
// (mapped to our codes) or say the answer was unusable.
Result<NewIdentity> RenewOverMutualTls(const AgentState& state, bool private_connection);

// The text the old key signs (must match the controller's
// RecoveryProofMessage): "topos-recover-identity\n" + signed_at_unix +
// "\n" + csr_pem.
std::string RecoveryProofText(std::int64_t signed_at_unix, const std::string& csr_pem);

// Recovers an expired identity: a new key and CSR, proof signed with the
// old key at `now`, sent over server-only TLS verified with the agent's CA
// bundle. Errors keep the controller's code and message:
// FailedPrecondition / PermissionDenied are its final word, Unavailable and
// the rest may pass.
Result<NewIdentity> RecoverExpiredIdentity(const AgentState& state, bool private_connection,
                                           std::chrono::system_clock::time_point now =
                                               std::chrono::system_clock::now());

}  // namespace topos::agent
