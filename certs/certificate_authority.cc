#include "certs/certificate_authority.h"

#include <openssl/ec.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "certs/crypto.h"
#include "certs/openssl_util.h"

namespace topos::certs {

using internal::UniqueAsn1Integer;
using internal::UniqueBignum;
using internal::UniqueGeneralNames;
using internal::UniqueX509;
using internal::UniqueX509Ext;
using internal::WithOpenSslErrors;
using std::chrono::system_clock;

namespace {

// Issued certificates start a little in the past so that a peer whose clock
// runs behind ours still accepts them straight away.
constexpr std::chrono::minutes kClockSkew{5};
constexpr std::size_t kMaxNameEntry = 64;  // RFC 5280 ub-common-name / ub-organizational-unit

std::string FormatTime(system_clock::time_point t) {
  std::time_t when = system_clock::to_time_t(t);
  std::tm tm = {};
  gmtime_r(&when, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Status CheckNameEntry(const std::string& value, std::string_view what, bool required) {
  if (value.empty()) {
    return required ? Status::InvalidArgument(std::string(what) + " is empty") : Status::Ok();
  }
  if (value.size() > kMaxNameEntry) {
    return Status::InvalidArgument(std::string(what) + " is " + std::to_string(value.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxNameEntry));
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      return Status::InvalidArgument(std::string(what) + " contains a control character");
    }
  }
  return Status::Ok();
}

Status AddNameEntry(X509_NAME* name, int nid, const std::string& value) {
  if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return Status::InvalidArgument(WithOpenSslErrors("\"" + value + "\" cannot be encoded"));
  }
  return Status::Ok();
}

// A random positive 128-bit serial. RFC 5280 wants serials unique per CA;
// random ones need no state and are unguessable. The top bit is cleared so
// the DER integer is positive, and the next one set so it is never zero and
// always 32 hex digits long (126 random bits remain).
Status SetRandomSerial(X509* cert) {
  std::string bytes = RandomBytes(16);
  bytes[0] = static_cast<char>((static_cast<unsigned char>(bytes[0]) & 0x7f) | 0x40);
  UniqueBignum bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size()), nullptr));
  UniqueAsn1Integer serial(bn != nullptr ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  if (serial == nullptr || X509_set_serialNumber(cert, serial.get()) != 1) {
    return Status::Internal(WithOpenSslErrors("setting the certificate serial number"));
  }
  return Status::Ok();
}

Status SetValidity(X509* cert, system_clock::time_point from, system_clock::time_point to) {
  if (ASN1_TIME_set(X509_getm_notBefore(cert), system_clock::to_time_t(from)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), system_clock::to_time_t(to)) == nullptr) {
    return Status::Internal(WithOpenSslErrors("setting the certificate validity"));
  }
  return Status::Ok();
}

// Adds an extension written in OpenSSL's config syntax. Values are constants
// of ours, never caller input, so there is no config-syntax injection.
Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  UniqueX509Ext ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return Status::Internal(
        WithOpenSslErrors(std::string("adding extension ") + OBJ_nid2sn(nid) + "=" + value));
  }
  return Status::Ok();
}

// Sets the certificate's public key to the one `req` carries.
//
// OpenSSL 3.0's X509_set_pubkey, given a provider key, runs an encoder to
// DER and a decoder back, looking both up among the providers by name on
// every call: it was about 60% of Sign's time. For EC keys (what agents
// and services use) the CSR's SubjectPublicKeyInfo is instead read with the
// legacy, table-driven EC method, whose key X509_set_pubkey encodes
// directly (about 20 times cheaper). The certificate ends up with the same
// SubjectPublicKeyInfo bytes either way; other key types take the general
// path.
Status SetPublicKey(X509* cert, X509_REQ* req, EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
    unsigned char* der = nullptr;
    const int length = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &der);
    if (length > 0) {
      const unsigned char* in = der;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      EC_KEY* ec = d2i_EC_PUBKEY(nullptr, &in, length);
      internal::UniqueEvpPkey legacy(ec != nullptr ? EVP_PKEY_new() : nullptr);
      const bool assigned = legacy != nullptr && EVP_PKEY_assign_EC_KEY(legacy.get(), ec) == 1;
      if (!assigned) EC_KEY_free(ec);
#pragma GCC diagnostic pop
      OPENSSL_free(der);
      if (assigned && X509_set_pubkey(cert, legacy.get()) == 1) return Status::Ok();
    } else {
      OPENSSL_free(der);
    }
    ERR_clear_error();  // fall back to the general path, which reports its own errors
  }
  if (X509_set_pubkey(cert, key) != 1) {
    return Status::Internal(WithOpenSslErrors("setting the certificate public key"));
  }
  return Status::Ok();
}

Status SignCertificate(X509* cert, const PrivateKey& key) {
  if (X509_sign(cert, key.native(), EVP_sha256()) <= 0) {
    return Status::Internal(WithOpenSslErrors("signing the certificate"));
  }
  return Status::Ok();
}

Status CheckCsrKey(EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_EC) return Status::Ok();
  if (id == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(key) >= 2048) return Status::Ok();
    return Status::InvalidArgument("CSR key is RSA " + std::to_string(EVP_PKEY_get_bits(key)) +
                                   " bits; at least 2048 are required (use ecdsa-p256 or "
                                   "rsa-3072)");
  }
  return Status::InvalidArgument("CSR key type is not supported; use ecdsa-p256 or rsa-3072");
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<CertificateAuthority> CertificateAuthority::Create(const std::string& common_name,
                                                          KeyType key_type,
                                                          std::chrono::seconds validity) {
  ERR_clear_error();
  TOPOS_RETURN_IF_ERROR(CheckNameEntry(common_name, "CA common name", true));
  if (validity <= std::chrono::seconds::zero()) {
    return Status::InvalidArgument("CA validity must be positive");
  }
  Result<PrivateKey> key = PrivateKey::Generate(key_type);
  if (!key.ok()) return key.status();

  UniqueX509 cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return Status::Internal(WithOpenSslErrors("allocating the CA certificate"));
  }
  TOPOS_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  X509_NAME* subject = X509_get_subject_name(cert.get());
  TOPOS_RETURN_IF_ERROR(AddNameEntry(subject, NID_commonName, common_name));
  if (X509_set_issuer_name(cert.get(), subject) != 1 ||
      X509_set_pubkey(cert.get(), key->native()) != 1) {
    return Status::Internal(WithOpenSslErrors("filling in the CA certificate"));
  }
  system_clock::time_point now = system_clock::now();
  TOPOS_RETURN_IF_ERROR(SetValidity(cert.get(), now - kClockSkew, now + validity));

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  TOPOS_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE"));
  TOPOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
  TOPOS_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  TOPOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  TOPOS_RETURN_IF_ERROR(SignCertificate(cert.get(), *key));
  return CertificateAuthority(Certificate(cert.release()), std::move(key).value());
}

Result<CertificateAuthority> CertificateAuthority::Load(std::string_view cert_pem,
                                                        std::string_view key_pem) {
  Result<Certificate> cert = Certificate::FromPem(cert_pem);
  if (!cert.ok()) return cert.status().WithContext("CA certificate");
  Result<PrivateKey> key = PrivateKey::FromPem(key_pem);
  if (!key.ok()) return key.status().WithContext("CA key");
  if (!cert->is_ca()) {
    return Status::InvalidArgument("certificate \"" + cert->common_name() +
                                   "\" is not a CA (it lacks basicConstraints CA:TRUE)");
  }
  X509* x = cert->native();
  if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) != 0 &&
      (X509_get_key_usage(x) & KU_KEY_CERT_SIGN) == 0) {
    return Status::InvalidArgument("CA certificate \"" + cert->common_name() +
                                   "\" does not allow keyCertSign in its keyUsage");
  }
  if (!cert->MatchesKey(*key)) {
    return Status::InvalidArgument("the CA key does not match the CA certificate \"" +
                                   cert->common_name() +
                                   "\" (check that the two files belong together)");
  }
  return CertificateAuthority(std::move(cert).value(), std::move(key).value());
}

Result<Certificate> CertificateAuthority::Sign(const Csr& csr, const SigningPolicy& policy) const {
  ERR_clear_error();
  TOPOS_RETURN_IF_ERROR(CheckNameEntry(policy.common_name, "policy common_name", true));
  TOPOS_RETURN_IF_ERROR(
      CheckNameEntry(policy.organizational_unit, "policy organizational_unit", false));
  if (policy.validity <= std::chrono::seconds::zero() ||
      policy.max_validity <= std::chrono::seconds::zero()) {
    return Status::InvalidArgument("policy validity and max_validity must be positive");
  }

  // Proof of possession: every Csr's self-signature has been verified when
  // it was made (csr.h: Csr::FromPem checks it, Csr::Create signs with the
  // key), so it is not verified a second time here.
  X509_REQ* req = csr.native();
  EVP_PKEY* public_key = X509_REQ_get0_pubkey(req);
  if (public_key == nullptr) {
    return Status::InvalidArgument(WithOpenSslErrors("CSR has no usable public key"));
  }
  TOPOS_RETURN_IF_ERROR(CheckCsrKey(public_key));

  std::vector<std::string> dns, ips;
  UniqueGeneralNames requested = internal::RequestSubjectAltNames(req);
  TOPOS_RETURN_IF_ERROR(
      internal::SplitGeneralNames(requested.get(), &dns, &ips).WithContext("CSR subjectAltName"));
  for (const std::string& name : dns) {
    bool allowed = std::any_of(policy.allowed_dns_names.begin(), policy.allowed_dns_names.end(),
                               [&](const std::string& a) { return Lower(a) == Lower(name); });
    if (!allowed) {
      return Status::PermissionDenied("name \"" + name + "\" is not allowed for this certificate");
    }
  }
  for (const std::string& ip : ips) {
    bool allowed =
        std::any_of(policy.allowed_ip_addresses.begin(), policy.allowed_ip_addresses.end(),
                    [&](const std::string& a) { return internal::CanonicalIp(a) == ip; });
    if (!allowed) {
      return Status::PermissionDenied("name \"" + ip + "\" is not allowed for this certificate");
    }
  }

  system_clock::time_point now = system_clock::now();
  system_clock::time_point ca_expiry = cert_.not_after();
  if (ca_expiry <= now) {
    return Status::FailedPrecondition("the CA certificate \"" + cert_.common_name() +
                                      "\" expired at " + FormatTime(ca_expiry) +
                                      "; rotate the CA before issuing certificates");
  }
  auto validity = std::min({policy.validity, policy.max_validity,
                            std::chrono::duration_cast<std::chrono::seconds>(ca_expiry - now)});

  UniqueX509 cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return Status::Internal(WithOpenSslErrors("allocating a certificate"));
  }
  TOPOS_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  X509_NAME* subject = X509_get_subject_name(cert.get());
  TOPOS_RETURN_IF_ERROR(AddNameEntry(subject, NID_commonName, policy.common_name));
  if (!policy.organizational_unit.empty()) {
    TOPOS_RETURN_IF_ERROR(
        AddNameEntry(subject, NID_organizationalUnitName, policy.organizational_unit));
  }
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert_.native())) != 1) {
    return Status::Internal(WithOpenSslErrors("filling in the certificate"));
  }
  TOPOS_RETURN_IF_ERROR(SetPublicKey(cert.get(), req, public_key));
  TOPOS_RETURN_IF_ERROR(SetValidity(cert.get(), now - kClockSkew, now + validity));

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert_.native(), cert.get(), nullptr, nullptr, 0);
  TOPOS_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  // RSA key exchange (TLS 1.2 non-ECDHE suites) encrypts to the key, which
  // needs keyEncipherment; EC keys only ever sign.
  const char* key_usage = EVP_PKEY_get_base_id(public_key) == EVP_PKEY_RSA
                              ? "critical,digitalSignature,keyEncipherment"
                              : "critical,digitalSignature";
  TOPOS_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_key_usage, key_usage));
  const char* eku = policy.usage == Usage::kServer   ? "serverAuth"
                    : policy.usage == Usage::kClient ? "clientAuth"
                                                     : "serverAuth,clientAuth";
  TOPOS_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_ext_key_usage, eku));
  TOPOS_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  TOPOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  if (!dns.empty() || !ips.empty()) {
    // Rebuilt from the vetted names rather than copied from the CSR, so
    // nothing the policy did not see can ride along.
    Result<UniqueGeneralNames> names = internal::MakeGeneralNames(dns, ips);
    if (!names.ok()) return names.status();
    if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names->get(), 0, X509V3_ADD_DEFAULT) !=
        1) {
      return Status::Internal(WithOpenSslErrors("adding subjectAltName"));
    }
  }
  TOPOS_RETURN_IF_ERROR(SignCertificate(cert.get(), key_));
  ERR_clear_error();
  return Certificate(cert.release());
}

}  // namespace topos::certs
