// The fields of callers' client certificates that decide who is calling,
// read once per certificate instead of once per call. OpenSSL 3 decodes a
// certificate's public key through its provider decoders on every parse; at
// one parse per authenticated call that was a tenth of the controller's CPU
// in a certificate rollout (docs/benchmarks.md). A miss reads the fields
// without the key (certs/certificate_fields.h): after a restart every
// returning agent misses once, and the full parse was 9% of the controller's
// CPU in a reconnect storm.
//
// Keyed by the SHA-256 of the certificate exactly as the TLS layer presented
// it, so a cached entry is only ever returned for the same bytes. Bounded:
// when `capacity` entries are held, the cache is emptied before the next one
// is added (a fleet's agents refill it as they call; nothing is kept stale,
// because a certificate's fields never change).
//
// Thread-safety: safe from several threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"

namespace topos::controller {

struct CallerCertificate {
  std::string common_name;
  std::string organizational_unit;
  std::string serial_hex;
  std::chrono::system_clock::time_point not_after;
};

class CallerCertificateCache {
 public:
  explicit CallerCertificateCache(std::size_t capacity) : capacity_(capacity) {}

  // The fields of the PEM certificate `pem`, parsed on first sight.
  // InvalidArgument (with the parser's reason) for an unreadable one, which
  // is not remembered.
  Result<CallerCertificate> Lookup(std::string_view pem);

  // Entries held now.
  std::size_t size() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, CallerCertificate> entries_;  // SHA-256 hex → fields
};

}  // namespace topos::controller
