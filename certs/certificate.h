// An X.509 certificate: parsed from PEM, inspected, fingerprinted.
//
// Thread-safety: immutable after construction.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "certs/private_key.h"
#include "common/status.h"

struct x509_st;

namespace topos::certs {

class Certificate {
 public:
  // Parses exactly one certificate. Errors: empty, larger than 64 KiB,
  // not PEM, truncated or garbage DER.
  static Result<Certificate> FromPem(std::string_view pem);
  // Parses a bundle of one or more concatenated certificates.
  static Result<std::vector<Certificate>> BundleFromPem(std::string_view pem);

  std::string ToPem() const;
  std::string serial_hex() const;          // lowercase hex, no leading zeros stripped
  std::string common_name() const;         // subject CN, "" if none
  std::string organizational_unit() const; // subject OU, "" if none
  std::string issuer_common_name() const;
  std::vector<std::string> dns_names() const;
  std::vector<std::string> ip_addresses() const;  // dotted / colon text form
  std::chrono::system_clock::time_point not_before() const;
  std::chrono::system_clock::time_point not_after() const;
  bool is_ca() const;
  // SHA-256 over the DER encoding, lowercase hex, 64 characters.
  std::string Sha256Fingerprint() const;
  std::string PublicKeyPem() const;
  bool MatchesKey(const PrivateKey& key) const;

  x509_st* native() const { return cert_.get(); }

 private:
  explicit Certificate(x509_st* cert);
  std::shared_ptr<x509_st> cert_;
  friend class CertificateAuthority;
};

// Concatenates certificates as a PEM bundle.
std::string BundleToPem(const std::vector<Certificate>& certs);

// Intended use, checked against the extended key usage when verifying.
enum class Usage { kServer, kClient, kServerAndClient };

// Verifies `leaf` up to one of `roots` (through `intermediates`), at time
// `at`, for `usage`. Returns an error naming the reason (expired, unknown
// issuer, bad signature, wrong usage).
Status VerifyChain(const Certificate& leaf, const std::vector<Certificate>& roots,
                   const std::vector<Certificate>& intermediates, Usage usage,
                   std::chrono::system_clock::time_point at = std::chrono::system_clock::now());

// VerifyChain without looking at any validity period: OK if `leaf` was
// issued (and signed) through the chain by one of `roots`, for `usage`,
// even if it or a CA has expired or is not yet valid. For proving that an
// expired certificate is still one of ours (identity recovery); never use it
// to accept a certificate for a connection.
Status VerifyChainIgnoringTime(const Certificate& leaf, const std::vector<Certificate>& roots,
                               const std::vector<Certificate>& intermediates, Usage usage);

}  // namespace topos::certs
