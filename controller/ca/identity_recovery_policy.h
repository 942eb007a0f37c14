// Whether the controller re-issues the identity of an agent whose
// certificate expired while it was offline (AgentService.RecoverIdentity).
// The agent has no valid certificate and no token; it proves that it still
// holds the old key by signing the request with it.
//
// Granted only when all of these hold, checked in this order, each refusal
// naming the rule it broke:
//   - sizes: certificate and CSR at most 16 KiB, proof at most 1 KiB
//     (InvalidArgument);
//   - the certificate parses, was issued by one of the controller's CAs
//     (expired or not), and is an agent identity (OU "agent")
//     (InvalidArgument / PermissionDenied);
//   - signed_at is within 5 minutes of now (InvalidArgument: the agent's
//     clock is off);
//   - the proof is the old key's signature over RecoveryProofMessage()
//     (PermissionDenied);
//   - the CSR parses and names only the host: CN and DNS names = host, no
//     IP addresses (InvalidArgument);
//   - the host exists and was not removed; the certificate is not revoked;
//     it is the host's current identity, so each expired certificate is
//     usable once (PermissionDenied);
//   - it has expired (FailedPrecondition "not expired: renew over mutual
//     TLS"), and not longer ago than the grace period (FailedPrecondition
//     telling the operator to enroll the host anew).
//
// Pure: the caller passes the clock and the lookups. Thread-safety: free
// functions over their arguments only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "certs/certificate.h"
#include "certs/csr.h"
#include "common/status.h"
#include "common/text.h"  // FormatUtc, for messages naming expiry dates
#include "controller/store/store.h"

namespace topos::controller {

inline constexpr std::size_t kMaxRecoveryPemBytes = 16 * 1024;
inline constexpr std::size_t kMaxRecoveryProofBytes = 1024;
inline constexpr std::chrono::seconds kRecoveryClockSkew{5 * 60};
inline constexpr std::chrono::seconds kDefaultIdentityGrace{30 * 24 * 3600};

// The text the old key signs: "topos-recover-identity\n" + signed_at_unix
// (decimal) + "\n" + csr_pem. The agent builds the same bytes.
std::string RecoveryProofMessage(std::int64_t signed_at_unix, const std::string& csr_pem);

// The request, as received.
struct RecoveryRequest {
  std::string certificate_pem;
  std::string csr_pem;
  std::int64_t signed_at_unix = 0;
  std::string proof;
};

// What the controller knows, at the time of the check.
struct RecoveryFacts {
  std::vector<certs::Certificate> roots;  // the CAs whose agent certificates count
  std::chrono::seconds grace = kDefaultIdentityGrace;
  std::chrono::system_clock::time_point now;
  // The host's record; NotFound for an unknown host.
  std::function<Result<HostRecord>(const std::string& fqdn)> find_host;
  std::function<bool(const std::string& serial)> is_revoked;
};

// A granted recovery: issue an identity for `host_fqdn` from `csr`.
struct RecoveryGrant {
  std::string host_fqdn;
  std::string old_serial;
  std::chrono::system_clock::time_point old_not_after;
  certs::Csr csr;
};

Result<RecoveryGrant> CheckIdentityRecovery(const RecoveryRequest& request,
                                            const RecoveryFacts& facts);

}  // namespace topos::controller
