#include "certs/crl.h"

#include <openssl/pem.h>

#include <memory>

#include "certs/openssl_util.h"

namespace topos::certs {

using internal::Free;
using internal::UniqueAsn1Integer;
using internal::UniqueBignum;
using internal::UniqueBio;
using internal::UniqueX509Ext;
using internal::WithOpenSslErrors;
using std::chrono::system_clock;

namespace {

using UniqueCrl = std::unique_ptr<X509_CRL, Free<X509_CRL_free>>;
using UniqueRevoked = std::unique_ptr<X509_REVOKED, Free<X509_REVOKED_free>>;
using UniqueAsn1Time = std::unique_ptr<ASN1_TIME, Free<ASN1_TIME_free>>;

constexpr std::size_t kMaxSerialHexDigits = 40;  // RFC 5280: at most 20 octets
constexpr std::string_view kCrlBegin = "-----BEGIN X509 CRL-----";

Result<UniqueAsn1Integer> SerialFromHex(const std::string& hex) {
  if (hex.empty() || hex.size() > kMaxSerialHexDigits ||
      hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    return Status::InvalidArgument("\"" + hex.substr(0, 64) +
                                   "\" is not a certificate serial (1 to 40 hex digits)");
  }
  BIGNUM* raw = nullptr;
  if (BN_hex2bn(&raw, hex.c_str()) == 0) {
    return Status::InvalidArgument(WithOpenSslErrors("serial \"" + hex + "\" cannot be read"));
  }
  UniqueBignum bn(raw);
  UniqueAsn1Integer serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (serial == nullptr) {
    return Status::Internal(WithOpenSslErrors("encoding serial \"" + hex + "\""));
  }
  return serial;
}

Result<UniqueAsn1Time> MakeTime(system_clock::time_point t) {
  UniqueAsn1Time time(ASN1_TIME_set(nullptr, system_clock::to_time_t(t)));
  if (time == nullptr) return Status::Internal(WithOpenSslErrors("encoding a CRL time"));
  return time;
}

Status AddRevoked(X509_CRL* crl, const RevokedEntry& entry) {
  Result<UniqueAsn1Integer> serial = SerialFromHex(entry.serial_hex);
  if (!serial.ok()) return serial.status();
  Result<UniqueAsn1Time> date = MakeTime(entry.revoked_at);
  if (!date.ok()) return date.status();
  UniqueRevoked revoked(X509_REVOKED_new());
  if (revoked == nullptr || X509_REVOKED_set_serialNumber(revoked.get(), serial->get()) != 1 ||
      X509_REVOKED_set_revocationDate(revoked.get(), date->get()) != 1) {
    return Status::Internal(WithOpenSslErrors("filling in CRL entry " + entry.serial_hex));
  }
  if (X509_CRL_add0_revoked(crl, revoked.get()) != 1) {
    return Status::Internal(WithOpenSslErrors("adding CRL entry " + entry.serial_hex));
  }
  revoked.release();  // owned by the CRL now
  return Status::Ok();
}

Status AddExtensions(X509_CRL* crl, X509* ca_cert, std::uint64_t crl_number) {
  UniqueAsn1Integer number(ASN1_INTEGER_new());
  if (number == nullptr || ASN1_INTEGER_set_uint64(number.get(), crl_number) != 1 ||
      X509_CRL_add1_ext_i2d(crl, NID_crl_number, number.get(), 0, 0) != 1) {
    return Status::Internal(WithOpenSslErrors("adding the CRL number"));
  }
  // The CA's key identifier when it has one, else its issuer and serial.
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert, nullptr, nullptr, crl, 0);
  UniqueX509Ext aki(
      X509V3_EXT_nconf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid,issuer"));
  if (aki == nullptr || X509_CRL_add_ext(crl, aki.get(), -1) != 1) {
    return Status::Internal(WithOpenSslErrors("adding the CRL authority key identifier"));
  }
  return Status::Ok();
}

Result<UniqueCrl> ReadCrl(std::string_view pem) {
  if (pem.empty()) return Status::InvalidArgument("CRL PEM is empty");
  if (pem.size() > kMaxCrlPemBytes) {
    return Status::InvalidArgument("CRL PEM is " + std::to_string(pem.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxCrlPemBytes));
  }
  if (pem.find(kCrlBegin) == std::string_view::npos) {
    return Status::InvalidArgument("not a PEM CRL: no \"" + std::string(kCrlBegin) +
                                   "\" line found");
  }
  ERR_clear_error();
  UniqueBio bio = internal::MemoryBio(pem);
  UniqueCrl crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (crl == nullptr) {
    return Status::InvalidArgument(
        WithOpenSslErrors("CRL PEM could not be parsed (truncated or corrupt?)"));
  }
  return crl;
}

}  // namespace

Result<std::string> SignCrl(const CertificateAuthority& ca, const std::vector<RevokedEntry>& revoked,
                            system_clock::time_point this_update,
                            system_clock::time_point next_update, std::uint64_t crl_number) {
  ERR_clear_error();
  if (system_clock::to_time_t(next_update) <= system_clock::to_time_t(this_update)) {
    return Status::InvalidArgument("CRL nextUpdate must be after thisUpdate");
  }
  X509* ca_cert = ca.certificate().native();
  UniqueCrl crl(X509_CRL_new());
  if (crl == nullptr || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca_cert)) != 1) {
    return Status::Internal(WithOpenSslErrors("allocating the CRL"));
  }
  Result<UniqueAsn1Time> last = MakeTime(this_update);
  if (!last.ok()) return last.status();
  Result<UniqueAsn1Time> next = MakeTime(next_update);
  if (!next.ok()) return next.status();
  if (X509_CRL_set1_lastUpdate(crl.get(), last->get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next->get()) != 1) {
    return Status::Internal(WithOpenSslErrors("setting the CRL dates"));
  }
  for (const RevokedEntry& entry : revoked) TOPOS_RETURN_IF_ERROR(AddRevoked(crl.get(), entry));
  TOPOS_RETURN_IF_ERROR(AddExtensions(crl.get(), ca_cert, crl_number));
  if (X509_CRL_sort(crl.get()) != 1) {
    return Status::Internal(WithOpenSslErrors("sorting the CRL entries"));
  }
  if (X509_CRL_sign(crl.get(), ca.key().native(), EVP_sha256()) <= 0) {
    return Status::Internal(WithOpenSslErrors("signing the CRL"));
  }
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) {
    return Status::Internal(WithOpenSslErrors("encoding the CRL as PEM"));
  }
  return internal::BioContents(bio.get());
}

Result<CrlInfo> ParseCrl(std::string_view pem) {
  Result<UniqueCrl> crl = ReadCrl(pem);
  if (!crl.ok()) return crl.status();
  X509_CRL* x = crl->get();
  CrlInfo info;
  info.issuer_common_name = internal::NameEntry(X509_CRL_get_issuer(x), NID_commonName);
  info.this_update = internal::Asn1TimeToTimePoint(X509_CRL_get0_lastUpdate(x));
  if (X509_CRL_get0_nextUpdate(x) == nullptr) {
    return Status::InvalidArgument("CRL has no nextUpdate");
  }
  info.next_update = internal::Asn1TimeToTimePoint(X509_CRL_get0_nextUpdate(x));
  int critical = 0;
  UniqueAsn1Integer number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(x, NID_crl_number, &critical, nullptr)));
  if (number != nullptr && ASN1_INTEGER_get_uint64(&info.number, number.get()) != 1) {
    return Status::InvalidArgument(WithOpenSslErrors("CRL number is not a 64-bit integer"));
  }
  ERR_clear_error();  // a missing extension leaves nothing worth reporting
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(x);
  for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i) {
    const X509_REVOKED* entry = sk_X509_REVOKED_value(entries, i);
    info.revoked.push_back(
        {internal::SerialHex(X509_REVOKED_get0_serialNumber(entry)),
         internal::Asn1TimeToTimePoint(X509_REVOKED_get0_revocationDate(entry))});
  }
  return info;
}

Status VerifyCrl(std::string_view pem, const Certificate& ca) {
  Result<UniqueCrl> crl = ReadCrl(pem);
  if (!crl.ok()) return crl.status();
  X509* ca_cert = ca.native();
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl->get()), X509_get_subject_name(ca_cert)) != 0) {
    return Status::InvalidArgument(
        "CRL issuer \"" + internal::NameEntry(X509_CRL_get_issuer(crl->get()), NID_commonName) +
        "\" is not the CA \"" + ca.common_name() + "\"");
  }
  EVP_PKEY* key = X509_get0_pubkey(ca_cert);
  if (key == nullptr || X509_CRL_verify(crl->get(), key) != 1) {
    return Status::InvalidArgument(WithOpenSslErrors("CRL signature does not verify with CA \"" +
                                                     ca.common_name() + "\""));
  }
  return Status::Ok();
}

}  // namespace topos::certs
