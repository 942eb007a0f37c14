// A private key (ECDSA P-256 by default, or RSA 3072), generated locally or
// loaded from PEM. The key never leaves this object except through ToPem(),
// which callers write to a 0600 file and nowhere else.
//
// Thread-safety: immutable after construction; const methods are safe to
// call from several threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of our headers.

namespace topos::certs {

enum class KeyType { kEcdsaP256, kRsa3072 };

// Parses "ecdsa-p256" or "rsa-3072".
Result<KeyType> ParseKeyType(std::string_view name);
std::string KeyTypeName(KeyType type);

class PrivateKey {
 public:
  static Result<PrivateKey> Generate(KeyType type = KeyType::kEcdsaP256);
  // Accepts PKCS#8 or traditional PEM, unencrypted. Errors name the problem
  // (empty, too large, not PEM, unsupported key type).
  static Result<PrivateKey> FromPem(std::string_view pem);

  std::string ToPem() const;           // PKCS#8, unencrypted
  std::string PublicKeyPem() const;    // SubjectPublicKeyInfo
  KeyType type() const { return type_; }

  // For certs/ internals only.
  evp_pkey_st* native() const { return key_.get(); }

 private:
  struct Deleter { void operator()(evp_pkey_st* key) const; };
  PrivateKey(evp_pkey_st* key, KeyType type) : key_(key, Deleter()), type_(type) {}
  std::shared_ptr<evp_pkey_st> key_;
  KeyType type_;
  friend class CertificateAuthority;
};

}  // namespace topos::certs
