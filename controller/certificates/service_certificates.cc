#include "controller/certificates/service_certificates.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "certs/crypto.h"
#include "certs/csr.h"
#include "controller/ca/service_certificate_policy.h"

namespace topos::controller {

Status ServiceCertificates::Issue(CertificateRequestRecord& request, const certs::Csr& csr,
                                  const std::vector<std::string>& allowed,
                                  const std::string& decided_by,
                                  std::chrono::system_clock::time_point now) {
  auto certificate = issuer_.IssueServiceCertificate(csr, request.host_fqdn, allowed);
  if (!certificate.ok()) return certificate.status();
  request.state = CertificateRequestState::kIssued;
  request.decided_at = now;
  request.decided_by = decided_by;
  request.serial = certificate->serial_hex();
  request.not_after = certificate->not_after();
  request.certificate_pem = certificate->ToPem();
  return Status::Ok();
}

Result<CertificateRequestRecord> ServiceCertificates::Request(
    const std::string& host_fqdn, const std::string& service, const std::string& csr_pem,
    std::chrono::system_clock::time_point now) {
  if (csr_pem.empty() || csr_pem.size() > kMaxServiceCsrBytes) {
    return Status::InvalidArgument("csr_pem is missing or larger than 16 KiB");
  }
  if (service.empty() || service.size() > 63) {
    return Status::InvalidArgument("service name is missing or longer than 63 characters");
  }
  auto csr = certs::Csr::FromPem(csr_pem);
  if (!csr.ok()) return Status::InvalidArgument("bad CSR: " + csr.status().message());
  if (csr->common_name() != host_fqdn) {
    return Status::InvalidArgument("CSR common name \"" + csr->common_name() +
                                   "\" is not this host (\"" + host_fqdn + "\")");
  }
  std::vector<std::string> names = csr->dns_names();
  if (names.empty()) return Status::InvalidArgument("CSR requests no DNS names");
  auto published = replicator_.Current();
  if (!published.topology) {
    return Status::FailedPrecondition("no topology is published: nothing grants certificates yet");
  }
  auto grant = EvaluateGrant(*published.topology, host_fqdn, service, names);
  if (!grant.ok()) return grant.status();

  // A request that must wait for approval is not filed twice. Granted ones
  // never look: the lookup reads the host's requests, and at fleet scale it
  // was most of the cost of issuing.
  if (!grant->ungranted.empty()) {
    auto pending = store_.ListCertificateRequests(true, host_fqdn);
    if (!pending.ok()) return pending.status();
    for (const auto& earlier : *pending) {
      if (earlier.service == service && earlier.names == names) return earlier;
    }
  }

  CertificateRequestRecord request;
  request.id = certs::HexEncode(certs::RandomBytes(8));
  request.host_fqdn = host_fqdn;
  request.service = service;
  request.names = names;
  request.csr_pem = csr_pem;
  request.requested_at = now;
  if (grant->ungranted.empty()) {
    TOPOS_RETURN_IF_ERROR(Issue(request, *csr, grant->granted, "policy", now));
    spdlog::info("host={} service={} certificate {} issued by policy", host_fqdn, service,
                 request.serial);
  } else {
    std::string joined;
    for (const auto& name : grant->ungranted) joined += (joined.empty() ? "" : ", ") + name;
    request.reason = "not granted to this host by the topology: " + joined;
    spdlog::warn("host={} service={} certificate request {} pending: {}", host_fqdn, service,
                 request.id, request.reason);
  }
  TOPOS_RETURN_IF_ERROR(store_.InsertCertificateRequest(request));
  return request;
}

Result<CertificateRequestRecord> ServiceCertificates::Poll(const std::string& host_fqdn,
                                                           const std::string& id) {
  auto request = store_.GetCertificateRequest(id);
  if (!request.ok() || request->host_fqdn != host_fqdn) {
    return Status::NotFound("no certificate request " + id + " for this host");
  }
  return request;
}

Result<CertificateRequestRecord> ServiceCertificates::Decide(
    const std::string& id, bool approve, const std::string& reason, const std::string& operator_name,
    std::chrono::system_clock::time_point now) {
  if (reason.size() > 1024) return Status::InvalidArgument("reason is longer than 1 KiB");
  auto request = store_.GetCertificateRequest(id);
  if (!request.ok()) return request.status();
  if (request->state != CertificateRequestState::kPending) {
    return Status::FailedPrecondition("certificate request " + id + " was already " +
                                      (request->state == CertificateRequestState::kIssued ? "issued"
                                                                                         : "denied"));
  }
  if (approve) {
    auto csr = certs::Csr::FromPem(request->csr_pem);
    if (!csr.ok()) return Status::InvalidArgument("bad CSR: " + csr.status().message());
    TOPOS_RETURN_IF_ERROR(Issue(*request, *csr, request->names, operator_name, now));
    request->reason = reason.empty() ? "approved by " + operator_name : reason;
  } else {
    request->state = CertificateRequestState::kDenied;
    request->decided_at = now;
    request->decided_by = operator_name;
    request->reason = reason.empty() ? "denied by " + operator_name : reason;
  }
  TOPOS_RETURN_IF_ERROR(store_.DecideCertificateRequest(*request));
  spdlog::info("operator={} {} certificate request {} of host={}", operator_name,
               approve ? "approved" : "denied", id, request->host_fqdn);
  return request;
}

}  // namespace topos::controller
