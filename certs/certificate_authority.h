// A certificate authority: its own certificate and key, and signing of CSRs
// under a policy. The CA decides the subject; it copies from the CSR only the
// public key and the names the policy allows.
//
// Thread-safety: Sign() is const and safe to call from several threads.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "certs/certificate.h"
#include "certs/csr.h"
#include "certs/private_key.h"
#include "common/status.h"

namespace topos::certs {

struct SigningPolicy {
  std::string common_name;          // subject CN of the issued certificate
  std::string organizational_unit;  // subject OU; empty for none
  // Every DNS / IP name the CSR requests must appear here, or Sign() fails
  // naming the first name that is not allowed. Names here that the CSR does
  // not request are not added.
  std::vector<std::string> allowed_dns_names;
  std::vector<std::string> allowed_ip_addresses;
  Usage usage = Usage::kClient;
  std::chrono::seconds validity{std::chrono::hours(24 * 7)};
  // Validity is capped at this and at the CA's own expiry.
  std::chrono::seconds max_validity{std::chrono::hours(24 * 397)};
};

class CertificateAuthority {
 public:
  // Creates a self-signed CA (basicConstraints CA:TRUE, keyCertSign, cRLSign).
  static Result<CertificateAuthority> Create(const std::string& common_name,
                                             KeyType key_type = KeyType::kEcdsaP256,
                                             std::chrono::seconds validity =
                                                 std::chrono::hours(24 * 365 * 10));
  // Loads a CA; fails if the key does not match the certificate or the
  // certificate is not a CA.
  static Result<CertificateAuthority> Load(std::string_view cert_pem, std::string_view key_pem);

  const Certificate& certificate() const { return cert_; }
  const PrivateKey& key() const { return key_; }

  // Issues a certificate for `csr` under `policy`: random 128-bit serial,
  // keyUsage digitalSignature (+keyEncipherment for RSA), the policy's EKU,
  // basicConstraints CA:FALSE, subject/authority key identifiers.
  Result<Certificate> Sign(const Csr& csr, const SigningPolicy& policy) const;

 private:
  CertificateAuthority(Certificate cert, PrivateKey key)
      : cert_(std::move(cert)), key_(std::move(key)) {}
  Certificate cert_;
  PrivateKey key_;
};

}  // namespace topos::certs
