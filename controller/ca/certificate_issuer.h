// The controller's issuing side of the CA: turns CSRs into certificates for
// agents and operators, under fixed policies, and describes each one as a
// CertificateRecord for the Store.
//
// Subjects: the OU says what a certificate is for ("agent", "operator",
// "controller"), so an agent certificate can never pass as an operator's.
//
// The signing CA is either fixed at construction or the current signing CA
// of a CaKeyring, so a CA rotation switches it at runtime: every
// certificate is signed by the CA that signs at that moment.
//
// Thread-safety: const methods are safe from several threads.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "certs/certificate_authority.h"
#include "common/status.h"
#include "controller/ca/ca_keyring.h"
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
  // Signs with `ca` for ever (tests, tools).
  CertificateIssuer(certs::CertificateAuthority ca, std::chrono::seconds agent_validity)
      : fixed_(std::make_shared<const certs::CertificateAuthority>(std::move(ca))),
        agent_validity_(agent_validity) {}
  // Signs with the keyring's signing CA of the moment; `keyring` must
  // outlive the issuer.
  CertificateIssuer(const CaKeyring& keyring, std::chrono::seconds agent_validity)
      : keyring_(&keyring), agent_validity_(agent_validity) {}

  // Issues an agent identity certificate (client auth) for `host_fqdn`. The
  // CSR may name only that host: its CN and DNS names must be host_fqdn.
  Result<Issued> IssueAgentIdentity(const certs::Csr& csr, const std::string& host_fqdn) const;

  // Issues a service certificate (server and client auth) with CN
  // `host_fqdn`. Every DNS name in the CSR must be in `allowed_names`.
  Result<certs::Certificate> IssueServiceCertificate(const certs::Csr& csr,
                                                     const std::string& host_fqdn,
                                                     const std::vector<std::string>& allowed_names) const;

  // The CA that signs now (a snapshot: it stays valid while held).
  std::shared_ptr<const certs::CertificateAuthority> ca() const {
    return keyring_ ? keyring_->signing() : fixed_;
  }
  // Every CA to trust now, signing CA first (two during a CA rotation).
  std::string CaBundlePem() const {
    return keyring_ ? keyring_->BundlePem() : fixed_->certificate().ToPem();
  }
  // SHA-256 of the signing CA, lowercase hex (what agents pin at enrollment).
  std::string CaFingerprint() const { return ca()->certificate().Sha256Fingerprint(); }

 private:
  // Exactly one of these is set; constant after construction.
  std::shared_ptr<const certs::CertificateAuthority> fixed_;
  const CaKeyring* keyring_ = nullptr;
  std::chrono::seconds agent_validity_;
};

// Describes an issued certificate for the Store.
CertificateRecord DescribeCertificate(const certs::Certificate& certificate,
                                      CertificatePurpose purpose);

}  // namespace topos::controller
