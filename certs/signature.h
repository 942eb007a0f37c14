// Signing a message with a private key and checking it with the matching
// certificate: how an agent proves it still holds the key of an (expired)
// identity certificate.
//
// Signatures are SHA-256: ECDSA (DER-encoded) for P-256 keys, RSASSA-PKCS1
// v1.5 for RSA keys.
//
// Thread-safety: free functions over their arguments only; safe from any
// thread.
#pragma once

#include <string>
#include <string_view>

#include "certs/certificate.h"
#include "certs/private_key.h"
#include "common/status.h"

namespace topos::certs {

// The largest signature either function handles (an RSA-3072 signature is
// 384 bytes; an ECDSA P-256 one at most 72).
inline constexpr std::size_t kMaxSignatureBytes = 1024;

// Signs `message` with `key` over SHA-256. Internal only if OpenSSL fails.
Result<std::string> SignMessage(const PrivateKey& key, std::string_view message);

// OK if `signature` is `message` signed (SHA-256) by the key of
// `certificate`. Unauthenticated ("signature does not verify with the key of
// certificate SERIAL") otherwise, including for an empty or oversized
// signature. Does not look at the certificate's dates or issuer.
Status VerifyMessageSignature(const Certificate& certificate, std::string_view message,
                              std::string_view signature);

}  // namespace topos::certs
