#include "certs/certificate.h"

#include <openssl/pem.h>

#include <optional>

#include "certs/crypto.h"
#include "certs/openssl_util.h"

namespace topos::certs {

using internal::UniqueBio;
using internal::UniqueGeneralNames;
using internal::UniqueX509;
using internal::UniqueX509Stack;
using internal::UniqueX509Store;
using internal::UniqueX509StoreCtx;
using internal::WithOpenSslErrors;

Certificate::Certificate(x509_st* cert) : cert_(cert, X509_free) {
  // OpenSSL decodes extensions lazily on first use and caches the result in
  // the X509 object. Doing it now keeps every later const accessor free of
  // writes, so one Certificate can be shared between threads.
  X509_check_purpose(cert, -1, 0);
  ERR_clear_error();
}

namespace {

// Parses the next certificate from `bio`, refusing malformed extensions.
Result<UniqueX509> ReadCertificate(BIO* bio) {
  UniqueX509 cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return Status::InvalidArgument(
        WithOpenSslErrors("certificate PEM could not be parsed (truncated or corrupt?)"));
  }
  if ((X509_get_extension_flags(cert.get()) & EXFLAG_INVALID) != 0) {
    return Status::InvalidArgument(
        WithOpenSslErrors("certificate has malformed or duplicate extensions"));
  }
  ERR_clear_error();
  return cert;
}

}  // namespace

Result<Certificate> Certificate::FromPem(std::string_view pem) {
  ERR_clear_error();
  std::size_t blocks = 0;
  TOPOS_RETURN_IF_ERROR(internal::CheckPem(pem, "certificate", {"CERTIFICATE"}, &blocks));
  if (blocks != 1) {
    return Status::InvalidArgument("PEM holds " + std::to_string(blocks) +
                                   " certificates; expected exactly one (a chain or CA "
                                   "bundle goes through BundleFromPem)");
  }
  UniqueBio bio = internal::MemoryBio(pem);
  Result<UniqueX509> cert = ReadCertificate(bio.get());
  if (!cert.ok()) return cert.status();
  return Certificate(cert->release());
}

Result<std::vector<Certificate>> Certificate::BundleFromPem(std::string_view pem) {
  ERR_clear_error();
  std::size_t blocks = 0;
  TOPOS_RETURN_IF_ERROR(internal::CheckPem(pem, "certificate bundle", {"CERTIFICATE"}, &blocks));
  UniqueBio bio = internal::MemoryBio(pem);
  std::vector<Certificate> certs;
  for (std::size_t i = 0; i < blocks; ++i) {
    Result<UniqueX509> cert = ReadCertificate(bio.get());
    if (!cert.ok()) {
      return cert.status().WithContext("certificate " + std::to_string(i + 1) + " of " +
                                       std::to_string(blocks) + " in the bundle");
    }
    certs.push_back(Certificate(cert->release()));
  }
  return certs;
}

std::string Certificate::ToPem() const {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert_.get()) != 1) {
    internal::Die("encoding a certificate as PEM");
  }
  return internal::BioContents(bio.get());
}

std::string Certificate::serial_hex() const {
  return internal::SerialHex(X509_get0_serialNumber(cert_.get()));
}

std::string Certificate::common_name() const {
  return internal::NameEntry(X509_get_subject_name(cert_.get()), NID_commonName);
}

std::string Certificate::organizational_unit() const {
  return internal::NameEntry(X509_get_subject_name(cert_.get()), NID_organizationalUnitName);
}

std::string Certificate::issuer_common_name() const {
  return internal::NameEntry(X509_get_issuer_name(cert_.get()), NID_commonName);
}

std::vector<std::string> Certificate::dns_names() const {
  std::vector<std::string> dns, ips;
  UniqueGeneralNames names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert_.get(), NID_subject_alt_name, nullptr, nullptr)));
  (void)internal::SplitGeneralNames(names.get(), &dns, &ips);
  ERR_clear_error();
  return dns;
}

std::vector<std::string> Certificate::ip_addresses() const {
  std::vector<std::string> dns, ips;
  UniqueGeneralNames names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert_.get(), NID_subject_alt_name, nullptr, nullptr)));
  (void)internal::SplitGeneralNames(names.get(), &dns, &ips);
  ERR_clear_error();
  return ips;
}

std::chrono::system_clock::time_point Certificate::not_before() const {
  return internal::Asn1TimeToTimePoint(X509_get0_notBefore(cert_.get()));
}

std::chrono::system_clock::time_point Certificate::not_after() const {
  return internal::Asn1TimeToTimePoint(X509_get0_notAfter(cert_.get()));
}

bool Certificate::is_ca() const { return (X509_get_extension_flags(cert_.get()) & EXFLAG_CA) != 0; }

std::string Certificate::Sha256Fingerprint() const {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert_.get(), EVP_sha256(), digest, &length) != 1) {
    internal::Die("hashing a certificate");
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string Certificate::PublicKeyPem() const {
  return internal::PublicKeyToPem(X509_get0_pubkey(cert_.get()));
}

bool Certificate::MatchesKey(const PrivateKey& key) const {
  bool matches = X509_check_private_key(cert_.get(), key.native()) == 1;
  ERR_clear_error();  // a mismatch leaves an error we have already reported
  return matches;
}

std::string BundleToPem(const std::vector<Certificate>& certs) {
  std::string out;
  for (const Certificate& cert : certs) out += cert.ToPem();
  return out;
}

namespace {

Status VerifyForPurpose(const Certificate& leaf, X509_STORE* store, STACK_OF(X509) * untrusted,
                        int purpose, const char* purpose_name, std::optional<std::time_t> at) {
  UniqueX509StoreCtx ctx(X509_STORE_CTX_new());
  if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), store, leaf.native(), untrusted) != 1) {
    return Status::Internal(WithOpenSslErrors("setting up certificate verification"));
  }
  if (at.has_value()) {
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()), *at);
  } else {
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()), X509_V_FLAG_NO_CHECK_TIME);
  }
  if (X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1) {
    return Status::Internal(WithOpenSslErrors("setting the verification purpose"));
  }
  if (X509_verify_cert(ctx.get()) == 1) {
    ERR_clear_error();
    return Status::Ok();
  }
  int error = X509_STORE_CTX_get_error(ctx.get());
  int depth = X509_STORE_CTX_get_error_depth(ctx.get());
  X509* failed = X509_STORE_CTX_get_current_cert(ctx.get());
  std::string subject =
      failed != nullptr ? internal::NameEntry(X509_get_subject_name(failed), NID_commonName) : "";
  ERR_clear_error();
  std::string message = "certificate \"" + leaf.common_name() + "\" does not verify";
  if (error == X509_V_ERR_INVALID_PURPOSE) {
    message += std::string(" for ") + purpose_name + " use";
  }
  message += ": " + std::string(X509_verify_cert_error_string(error));
  if (depth > 0) {
    message += " (at chain depth " + std::to_string(depth) + ", \"" + subject + "\")";
  }
  return Status::Unauthenticated(message);
}

// VerifyChain at `at`, or ignoring validity periods when `at` is empty.
Status VerifyChainAt(const Certificate& leaf, const std::vector<Certificate>& roots,
                     const std::vector<Certificate>& intermediates, Usage usage,
                     std::optional<std::time_t> when) {
  ERR_clear_error();
  if (roots.empty()) {
    return Status::InvalidArgument("no trusted root certificates given to verify against");
  }
  UniqueX509Store store(X509_STORE_new());
  UniqueX509Stack untrusted(sk_X509_new_null());
  if (store == nullptr || untrusted == nullptr) {
    return Status::Internal(WithOpenSslErrors("allocating a certificate store"));
  }
  for (const Certificate& root : roots) {
    if (X509_STORE_add_cert(store.get(), root.native()) != 1) {
      return Status::Internal(WithOpenSslErrors("adding a root certificate"));
    }
  }
  for (const Certificate& cert : intermediates) {
    if (sk_X509_push(untrusted.get(), cert.native()) <= 0) {
      return Status::Internal(WithOpenSslErrors("adding an intermediate certificate"));
    }
  }
  if (usage == Usage::kServer || usage == Usage::kServerAndClient) {
    TOPOS_RETURN_IF_ERROR(VerifyForPurpose(leaf, store.get(), untrusted.get(),
                                           X509_PURPOSE_SSL_SERVER, "TLS server", when));
  }
  if (usage == Usage::kClient || usage == Usage::kServerAndClient) {
    TOPOS_RETURN_IF_ERROR(VerifyForPurpose(leaf, store.get(), untrusted.get(),
                                           X509_PURPOSE_SSL_CLIENT, "TLS client", when));
  }
  return Status::Ok();
}

}  // namespace

Status VerifyChain(const Certificate& leaf, const std::vector<Certificate>& roots,
                   const std::vector<Certificate>& intermediates, Usage usage,
                   std::chrono::system_clock::time_point at) {
  return VerifyChainAt(leaf, roots, intermediates, usage, std::chrono::system_clock::to_time_t(at));
}

Status VerifyChainIgnoringTime(const Certificate& leaf, const std::vector<Certificate>& roots,
                               const std::vector<Certificate>& intermediates, Usage usage) {
  return VerifyChainAt(leaf, roots, intermediates, usage, std::nullopt);
}

}  // namespace topos::certs
