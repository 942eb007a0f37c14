#include "controller/certificates/certificate_inventory.h"

#include <algorithm>

#include "certs/certificate.h"

namespace topos::controller {
namespace {

std::int64_t Unix(TimePoint at) {
  return std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
}

std::string PurposeName(CertificatePurpose purpose) {
  switch (purpose) {
    case CertificatePurpose::kAgentIdentity:
      return "agent identity";
    case CertificatePurpose::kOperator:
      return "operator";
    case CertificatePurpose::kControllerServer:
      return "controller server";
  }
  return "unknown";
}

std::string IssuedState(const std::optional<TimePoint>& revoked_at, TimePoint not_after, TimePoint now) {
  if (revoked_at) return "revoked";
  return now >= not_after ? "expired" : "issued";
}

}  // namespace

std::vector<v1::CertificateInventoryItem> BuildCertificateInventory(
    const std::vector<CertificateRecord>& certificates,
    const std::vector<CertificateRequestRecord>& requests, TimePoint now) {
  std::vector<v1::CertificateInventoryItem> items;
  for (const auto& record : certificates) {
    v1::CertificateInventoryItem& item = items.emplace_back();
    item.set_serial(record.serial);
    item.set_subject(record.subject);
    item.set_purpose(PurposeName(record.purpose));
    if (record.purpose == CertificatePurpose::kAgentIdentity) item.set_host_fqdn(record.subject);
    item.set_not_after_unix(Unix(record.not_after));
    item.set_state(IssuedState(record.revoked_at, record.not_after, now));
    item.set_sha256_fingerprint(record.fingerprint);
    item.set_revoke_reason(record.revoke_reason);
    if (record.revoked_at) item.set_revoked_at_unix(Unix(*record.revoked_at));
    // The names are in the certificate itself; a stored PEM that does not
    // parse still shows, without them.
    if (auto parsed = certs::Certificate::FromPem(record.pem); parsed.ok()) {
      for (const auto& name : parsed->dns_names()) item.add_names(name);
    }
  }
  for (const auto& request : requests) {
    v1::CertificateInventoryItem& item = items.emplace_back();
    item.set_request_id(request.id);
    item.set_host_fqdn(request.host_fqdn);
    item.set_subject(request.host_fqdn);
    item.set_purpose("service " + request.service);
    for (const auto& name : request.names) item.add_names(name);
    switch (request.state) {
      case CertificateRequestState::kPending:
        item.set_state("pending");
        continue;
      case CertificateRequestState::kDenied:
        item.set_state("denied");
        item.set_revoke_reason(request.reason);
        continue;
      case CertificateRequestState::kIssued:
        break;
    }
    item.set_serial(request.serial);
    const TimePoint not_after = request.not_after.value_or(TimePoint());
    item.set_not_after_unix(Unix(not_after));
    item.set_state(IssuedState(request.revoked_at, not_after, now));
    item.set_revoke_reason(request.revoke_reason);
    if (request.revoked_at) item.set_revoked_at_unix(Unix(*request.revoked_at));
    if (auto parsed = certs::Certificate::FromPem(request.certificate_pem); parsed.ok()) {
      item.set_sha256_fingerprint(parsed->Sha256Fingerprint());
      item.set_subject(parsed->common_name());
    }
  }
  return items;
}

Result<std::vector<v1::CertificateInventoryItem>> FilterCertificateInventory(
    std::vector<v1::CertificateInventoryItem> items, const v1::ListCertificatesRequest& request,
    const std::map<std::string, std::set<std::string>>& pool_hosts, TimePoint now) {
  if (request.expiring_within_seconds() < 0) {
    return Status::InvalidArgument("--expiring-within must not be negative");
  }
  const std::set<std::string>* pool = nullptr;
  if (!request.pool().empty()) {
    auto found = pool_hosts.find(request.pool());
    if (found == pool_hosts.end()) {
      std::string known;
      for (const auto& [name, hosts] : pool_hosts) known += (known.empty() ? "" : ", ") + name;
      return Status::InvalidArgument("--pool \"" + request.pool() +
                                     "\" is not a pool of the published topology (pools: " +
                                     (known.empty() ? "none" : known) + ")");
    }
    pool = &found->second;
  }
  const std::int64_t horizon = Unix(now) + request.expiring_within_seconds();
  std::erase_if(items, [&](const v1::CertificateInventoryItem& item) {
    if (!request.host_fqdn().empty() && item.host_fqdn() != request.host_fqdn()) return true;
    if (pool != nullptr && !pool->contains(item.host_fqdn())) return true;
    if (request.expiring_within_seconds() > 0 &&
        (item.state() != "issued" || item.not_after_unix() > horizon)) {
      return true;
    }
    return false;
  });
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    const bool a_dated = a.not_after_unix() != 0, b_dated = b.not_after_unix() != 0;
    if (a_dated != b_dated) return a_dated;
    if (a.not_after_unix() != b.not_after_unix()) return a.not_after_unix() < b.not_after_unix();
    if (a.serial() != b.serial()) return a.serial() < b.serial();
    return a.request_id() < b.request_id();
  });
  return items;
}

}  // namespace topos::controller
