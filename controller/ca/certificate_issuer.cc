#include "controller/ca/certificate_issuer.h"

namespace topos::controller {

Result<Issued> CertificateIssuer::IssueAgentIdentity(const certs::Csr& csr,
                                                     const std::string& host_fqdn) const {
  if (csr.common_name() != host_fqdn) {
    return Status::InvalidArgument("CSR common name \"" + csr.common_name() +
                                   "\" does not match the host \"" + host_fqdn + "\"");
  }
  certs::SigningPolicy policy;
  policy.common_name = host_fqdn;
  policy.organizational_unit = kAgentUnit;
  policy.allowed_dns_names = {host_fqdn};
  policy.usage = certs::Usage::kClient;
  policy.validity = agent_validity_;
  policy.max_validity = std::chrono::hours(24 * 90);
  auto certificate = ca()->Sign(csr, policy);
  if (!certificate.ok()) return certificate.status();
  Issued issued{*certificate, DescribeCertificate(*certificate, CertificatePurpose::kAgentIdentity)};
  return issued;
}

Result<certs::Certificate> CertificateIssuer::IssueServiceCertificate(
    const certs::Csr& csr, const std::string& host_fqdn,
    const std::vector<std::string>& allowed_names) const {
  if (csr.common_name() != host_fqdn) {
    return Status::InvalidArgument("CSR common name \"" + csr.common_name() +
                                   "\" does not match the host \"" + host_fqdn + "\"");
  }
  certs::SigningPolicy policy;
  policy.common_name = host_fqdn;
  policy.organizational_unit = kServiceUnit;
  policy.allowed_dns_names = allowed_names;
  policy.usage = certs::Usage::kServerAndClient;
  policy.validity = kServiceCertificateValidity;
  policy.max_validity = std::chrono::hours(24 * 397);
  return ca()->Sign(csr, policy);
}

CertificateRecord DescribeCertificate(const certs::Certificate& certificate,
                                      CertificatePurpose purpose) {
  CertificateRecord record;
  record.serial = certificate.serial_hex();
  record.subject = certificate.common_name();
  record.purpose = purpose;
  record.fingerprint = certificate.Sha256Fingerprint();
  record.issued_at = std::chrono::system_clock::now();
  record.not_after = certificate.not_after();
  record.pem = certificate.ToPem();
  return record;
}

}  // namespace topos::controller
