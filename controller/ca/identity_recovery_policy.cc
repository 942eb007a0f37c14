#include "controller/ca/identity_recovery_policy.h"

#include <ctime>

#include "certs/signature.h"
#include "common/text.h"
#include "controller/ca/certificate_issuer.h"

namespace topos::controller {
namespace {

using std::chrono::duration_cast;
using std::chrono::seconds;

// "30-day", "12-hour", "90-minute", "45-second": the largest unit that
// divides `span`, as an adjective.
std::string FormatGrace(seconds span) {
  auto count = span.count();
  if (count > 0 && count % 86400 == 0) return std::to_string(count / 86400) + "-day";
  if (count > 0 && count % 3600 == 0) return std::to_string(count / 3600) + "-hour";
  if (count > 0 && count % 60 == 0) return std::to_string(count / 60) + "-minute";
  return std::to_string(count) + "-second";
}

// "56 days ago", "1 day ago", or for less than a day "3h ago".
std::string FormatDaysAgo(std::chrono::system_clock::time_point then,
                          std::chrono::system_clock::time_point now) {
  auto days = duration_cast<seconds>(now - then).count() / 86400;
  if (days < 1) return FormatAgo(then, now);
  return std::to_string(days) + (days == 1 ? " day ago" : " days ago");
}

Status CheckCsrNamesOnly(const certs::Csr& csr, const std::string& host) {
  if (csr.common_name() != host) {
    return Status::InvalidArgument("the CSR's common name \"" + csr.common_name() +
                                   "\" is not the host \"" + host + "\"");
  }
  for (const std::string& name : csr.dns_names()) {
    if (name != host) {
      return Status::InvalidArgument("the CSR names \"" + name + "\"; it may name only \"" + host +
                                     "\"");
    }
  }
  if (!csr.ip_addresses().empty()) {
    return Status::InvalidArgument("the CSR names IP address " + csr.ip_addresses().front() +
                                   "; it may name only \"" + host + "\"");
  }
  return Status::Ok();
}

}  // namespace

std::string RecoveryProofMessage(std::int64_t signed_at_unix, const std::string& csr_pem) {
  return "topos-recover-identity\n" + std::to_string(signed_at_unix) + "\n" + csr_pem;
}

Result<RecoveryGrant> CheckIdentityRecovery(const RecoveryRequest& request,
                                            const RecoveryFacts& facts) {
  if (request.certificate_pem.empty() || request.certificate_pem.size() > kMaxRecoveryPemBytes) {
    return Status::InvalidArgument("certificate_pem is missing or larger than 16 KiB");
  }
  if (request.csr_pem.empty() || request.csr_pem.size() > kMaxRecoveryPemBytes) {
    return Status::InvalidArgument("csr_pem is missing or larger than 16 KiB");
  }
  if (request.proof.empty() || request.proof.size() > kMaxRecoveryProofBytes) {
    return Status::InvalidArgument("proof is missing or larger than 1 KiB");
  }

  auto old = certs::Certificate::FromPem(request.certificate_pem);
  if (!old.ok()) return Status::InvalidArgument("bad certificate: " + old.status().message());
  Status chained = certs::VerifyChainIgnoringTime(*old, facts.roots, {}, certs::Usage::kClient);
  if (!chained.ok()) {
    return Status::PermissionDenied("the certificate was not issued by this controller: " +
                                    chained.message());
  }
  if (old->organizational_unit() != kAgentUnit) {
    return Status::PermissionDenied("certificate " + old->serial_hex() + " (\"" +
                                    old->common_name() + "\") is not an agent identity");
  }
  const std::string host = old->common_name();

  auto signed_at = std::chrono::system_clock::time_point(seconds(request.signed_at_unix));
  auto skew = facts.now > signed_at ? facts.now - signed_at : signed_at - facts.now;
  if (skew > kRecoveryClockSkew) {
    return Status::InvalidArgument(
        "the proof was signed at " + FormatUtc(signed_at) + " but the controller's time is " +
        FormatUtc(facts.now) + " (more than 5 minutes apart): check the clock of " + host);
  }
  Status proven = certs::VerifyMessageSignature(
      *old, RecoveryProofMessage(request.signed_at_unix, request.csr_pem), request.proof);
  if (!proven.ok()) {
    return Status::PermissionDenied("no proof of possession of the key of certificate " +
                                    old->serial_hex() + ": " + proven.message());
  }

  auto csr = certs::Csr::FromPem(request.csr_pem);
  if (!csr.ok()) return Status::InvalidArgument("bad CSR: " + csr.status().message());
  TOPOS_RETURN_IF_ERROR(CheckCsrNamesOnly(*csr, host));

  auto record = facts.find_host(host);
  if (!record.ok()) {
    if (record.status().code() != Status::Code::kNotFound) return record.status();
    return Status::PermissionDenied("host \"" + host + "\" is not enrolled");
  }
  if (record->removed_at.has_value()) {
    return Status::PermissionDenied("host \"" + host +
                                    "\" was removed; enroll it anew with a new token");
  }
  if (facts.is_revoked(old->serial_hex())) {
    return Status::PermissionDenied("certificate " + old->serial_hex() + " (\"" + host +
                                    "\") has been revoked");
  }
  if (record->certificate_serial != old->serial_hex()) {
    return Status::PermissionDenied("certificate " + old->serial_hex() +
                                    " is no longer the current identity of \"" + host +
                                    "\" (it was renewed or already recovered)");
  }

  if (facts.now < old->not_after()) {
    return Status::FailedPrecondition("not expired: renew over mutual TLS (the identity of \"" +
                                      host + "\" is valid until " + FormatUtc(old->not_after()) +
                                      ")");
  }
  if (facts.now - old->not_after() > facts.grace) {
    return Status::FailedPrecondition(
        "the identity certificate of " + host + " expired on " + FormatUtc(old->not_after()) +
        ", " + FormatDaysAgo(old->not_after(), facts.now) + ", past the " +
        FormatGrace(facts.grace) + " grace period: this agent needs a new token (toposctl token " +
        "create --host " + host + ") and a fresh `topos-agent enroll`");
  }
  return RecoveryGrant{host, old->serial_hex(), old->not_after(), std::move(*csr)};
}

}  // namespace topos::controller
