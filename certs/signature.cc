#include "certs/signature.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>

#include "certs/openssl_util.h"

namespace topos::certs {

using internal::Free;
using internal::WithOpenSslErrors;

namespace {
using UniqueMdCtx = std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX_free>>;
}  // namespace

Result<std::string> SignMessage(const PrivateKey& key, std::string_view message) {
  ERR_clear_error();
  UniqueMdCtx ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.native()) != 1) {
    return Status::Internal(WithOpenSslErrors("setting up a SHA-256 signature"));
  }
  std::size_t length = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(message.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &length, data, message.size()) != 1) {
    return Status::Internal(WithOpenSslErrors("sizing a signature"));
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, data,
                     message.size()) != 1) {
    return Status::Internal(WithOpenSslErrors("signing a message"));
  }
  signature.resize(length);
  return signature;
}

Status VerifyMessageSignature(const Certificate& certificate, std::string_view message,
                              std::string_view signature) {
  ERR_clear_error();
  auto refused = [&] {
    return Status::Unauthenticated("signature does not verify with the key of certificate " +
                                   certificate.serial_hex() + " (\"" +
                                   certificate.common_name() + "\")");
  };
  if (signature.empty() || signature.size() > kMaxSignatureBytes) return refused();
  EVP_PKEY* public_key = X509_get0_pubkey(certificate.native());  // owned by the certificate
  UniqueMdCtx ctx(EVP_MD_CTX_new());
  if (public_key == nullptr || ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, public_key) != 1) {
    return Status::Internal(WithOpenSslErrors("setting up signature verification"));
  }
  int verified = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                                  signature.size(),
                                  reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size());
  ERR_clear_error();
  if (verified != 1) return refused();
  return Status::Ok();
}

}  // namespace topos::certs
