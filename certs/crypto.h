// Small cryptographic helpers that other modules need without including
// OpenSSL: random bytes, hashes, constant-time comparison.
#pragma once

#include <cstddef>
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

}  // namespace topos::certs
