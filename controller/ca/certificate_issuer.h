// The controller's issuing side of the CA: turns CSRs into certificates for
// agents and operators, under fixed policies, and describes each one as a
// CertificateRecord for the Store.
//
// Subjects: the OU says what a certificate is for ("agent", "operator",
// "controller"), so an agent certificate can never pass as an operator's.
//
// Thread-safety: const methods are safe from several threads.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "certs/certificate_authority.h"
#include "common/status.h"
#include "controller/store/store.h"

namespace topos::controller {

inline constexpr char kAgentUnit[] = "agent";
inline constexpr char kOperatorUnit[] = "operator";
inline constexpr char kControllerUnit[] = "controller";
inline constexpr char kServiceUnit[] = "service";
inline constexpr std::chrono::seconds kServiceCertificateValidity{30 * 24 * 3600};
inline constexpr std::chrono::seconds kDefaultAgentCertificateValidity{7 * 24 * 3600};

struct Issued {
  certs::Certificate certificate;
  CertificateRecord record;
};

class CertificateIssuer {
 public:
  CertificateIssuer(certs::CertificateAuthority ca, std::chrono::seconds agent_validity)
      : ca_(std::move(ca)), agent_validity_(agent_validity) {}

  // Issues an agent identity certificate (client auth) for `host_fqdn`. The
  // CSR may name only that host: its CN and DNS names must be host_fqdn.
  Result<Issued> IssueAgentIdentity(const certs::Csr& csr, const std::string& host_fqdn) const;

  // Issues a service certificate (server and client auth) with CN
  // `host_fqdn`. Every DNS name in the CSR must be in `allowed_names`.
  Result<certs::Certificate> IssueServiceCertificate(const certs::Csr& csr,
                                                     const std::string& host_fqdn,
                                                     const std::vector<std::string>& allowed_names) const;

  const certs::CertificateAuthority& ca() const { return ca_; }
  std::string CaBundlePem() const { return ca_.certificate().ToPem(); }
  std::string CaFingerprint() const { return ca_.certificate().Sha256Fingerprint(); }

 private:
  certs::CertificateAuthority ca_;
  std::chrono::seconds agent_validity_;
};

// Describes an issued certificate for the Store.
CertificateRecord DescribeCertificate(const certs::Certificate& certificate,
                                      CertificatePurpose purpose);

}  // namespace topos::controller
