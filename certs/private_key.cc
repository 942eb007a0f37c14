#include "certs/private_key.h"

#include <openssl/pem.h>

#include <cstring>

#include "certs/openssl_util.h"

namespace topos::certs {

using internal::UniqueBio;
using internal::UniqueEvpPkey;
using internal::WithOpenSslErrors;

namespace {

// PEM password callback that never supplies one. Without it OpenSSL would
// prompt on the terminal for an encrypted key, hanging a daemon.
int NoPassword(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return 0; }

// The KeyType of `key`, or an error if it is not one we support.
Result<KeyType> TypeOf(EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_EC) {
    char group[64] = {};
    size_t length = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof(group), &length) == 1 &&
        (std::strcmp(group, "prime256v1") == 0 || std::strcmp(group, "P-256") == 0)) {
      return KeyType::kEcdsaP256;
    }
    ERR_clear_error();
    return Status::InvalidArgument(std::string("unsupported EC curve \"") + group +
                                   "\"; use an ecdsa-p256 (prime256v1) or rsa-3072 key");
  }
  if (id == EVP_PKEY_RSA) {
    int bits = EVP_PKEY_get_bits(key);
    if (bits == 3072) return KeyType::kRsa3072;
    return Status::InvalidArgument("unsupported RSA key size " + std::to_string(bits) +
                                   " bits; use an rsa-3072 or ecdsa-p256 key");
  }
  return Status::InvalidArgument(std::string("unsupported key type \"") +
                                 (OBJ_nid2sn(id) != nullptr ? OBJ_nid2sn(id) : "unknown") +
                                 "\"; use an ecdsa-p256 or rsa-3072 key");
}

}  // namespace

Result<KeyType> ParseKeyType(std::string_view name) {
  if (name == "ecdsa-p256") return KeyType::kEcdsaP256;
  if (name == "rsa-3072") return KeyType::kRsa3072;
  return Status::InvalidArgument("unknown key type \"" + std::string(name) +
                                 "\"; expected \"ecdsa-p256\" or \"rsa-3072\"");
}

std::string KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP256:
      return "ecdsa-p256";
    case KeyType::kRsa3072:
      return "rsa-3072";
  }
  return "unknown";
}

void PrivateKey::Deleter::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

Result<PrivateKey> PrivateKey::Generate(KeyType type) {
  ERR_clear_error();
  EVP_PKEY* key = nullptr;
  switch (type) {
    case KeyType::kEcdsaP256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kRsa3072:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(3072));
      break;
  }
  if (key == nullptr) {
    return Status::Internal(WithOpenSslErrors("generating a " + KeyTypeName(type) + " key failed"));
  }
  return PrivateKey(key, type);
}

Result<PrivateKey> PrivateKey::FromPem(std::string_view pem) {
  ERR_clear_error();
  std::size_t blocks = 0;
  TOPOS_RETURN_IF_ERROR(internal::CheckPem(
      pem, "private key",
      {"PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY"}, &blocks));
  if (pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos ||
      pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos) {
    return Status::InvalidArgument(
        "the private key is encrypted; only unencrypted keys are supported "
        "(decrypt it with `openssl pkey -in key.pem -out key-plain.pem`)");
  }
  if (blocks != 1) {
    return Status::InvalidArgument("PEM holds " + std::to_string(blocks) +
                                   " private keys; expected exactly one");
  }
  UniqueBio bio = internal::MemoryBio(pem);
  UniqueEvpPkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  if (key == nullptr) {
    return Status::InvalidArgument(
        WithOpenSslErrors("private key PEM could not be parsed (truncated or corrupt?)"));
  }
  ERR_clear_error();
  Result<KeyType> type = TypeOf(key.get());
  if (!type.ok()) return type.status();
  return PrivateKey(key.release(), *type);
}

std::string PrivateKey::ToPem() const {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PKCS8PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0,
                                                      nullptr, nullptr) != 1) {
    internal::Die("encoding a private key as PEM");
  }
  return internal::BioContents(bio.get());
}

std::string PrivateKey::PublicKeyPem() const { return internal::PublicKeyToPem(key_.get()); }

}  // namespace topos::certs
