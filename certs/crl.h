// Certificate revocation lists: signing an X.509 v2 CRL with a CA, and
// reading one back (for tests, inspection and relying parties).
//
// A CRL made here carries the CA's subject as issuer, thisUpdate and
// nextUpdate, a CRL Number and an Authority Key Identifier, and one entry per
// revoked serial with its revocation date, sorted by serial; it is signed
// with the CA key over SHA-256.
//
// Thread-safety: free functions over their arguments only; safe from any
// thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "certs/certificate.h"
#include "certs/certificate_authority.h"
#include "common/status.h"

namespace topos::certs {

// A CRL is larger than anything else we parse (one entry per revoked
// certificate, ~60 PEM bytes each); ParseCrl and VerifyCrl refuse more.
inline constexpr std::size_t kMaxCrlPemBytes = 16 * 1024 * 1024;

struct RevokedEntry {
  std::string serial_hex;  // as Certificate::serial_hex() gives it: lowercase hex
  std::chrono::system_clock::time_point revoked_at;
};

struct CrlInfo {
  std::string issuer_common_name;
  std::chrono::system_clock::time_point this_update;
  std::chrono::system_clock::time_point next_update;
  std::uint64_t number = 0;            // 0 if the CRL has no CRL Number
  std::vector<RevokedEntry> revoked;   // sorted by serial as DER integers
};

// Signs a CRL listing `revoked`. Serials are hex (either case, at most 40
// digits, i.e. RFC 5280's 20 octets); times have seconds precision.
// Errors: InvalidArgument naming the first serial that is not such hex, or
// when next_update is not after this_update; Internal for OpenSSL failures.
Result<std::string> SignCrl(const CertificateAuthority& ca, const std::vector<RevokedEntry>& revoked,
                            std::chrono::system_clock::time_point this_update,
                            std::chrono::system_clock::time_point next_update,
                            std::uint64_t crl_number);

// Parses one PEM CRL ("-----BEGIN X509 CRL-----") without checking its
// signature. Errors: InvalidArgument for empty, oversized, non-PEM or
// corrupt input, or a CRL without nextUpdate.
Result<CrlInfo> ParseCrl(std::string_view pem);

// OK if `pem` parses and is issued and signed by `ca`. Errors:
// InvalidArgument as ParseCrl, or naming the issuer mismatch or the bad
// signature. Does not look at the CRL's dates.
Status VerifyCrl(std::string_view pem, const Certificate& ca);

}  // namespace topos::certs
