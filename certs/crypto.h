// Small cryptographic helpers that other modules need without including
// OpenSSL: random bytes, hashes, constant-time comparison.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace topos::certs {

// Cryptographically secure random bytes (OpenSSL's RAND_bytes). Aborts with a
// message if the system cannot supply randomness: continuing would be unsafe.
std::string RandomBytes(std::size_t count);
std::string HexEncode(std::string_view bytes);
// SHA-256 of `data`, lowercase hex.
std::string Sha256Hex(std::string_view data);
// Compares without an early exit, so timing reveals nothing but the lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// SHA-256 over data fed in pieces (files, streams). Not thread-safe: one
// hasher per stream. Aborts with a message if SHA-256 is unavailable, like
// Sha256Hex.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::string_view data);
  // The digest of everything fed so far, lowercase hex. The hasher then
  // starts over, empty.
  std::string FinishHex();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace topos::certs
