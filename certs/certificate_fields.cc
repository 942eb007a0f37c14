#include "certs/certificate_fields.h"

#include <openssl/asn1t.h>
#include <openssl/pem.h>

#include <memory>

#include "certs/openssl_util.h"

// RFC 5280's Certificate, as OpenSSL's own X509 template reads it, except
// that subjectPublicKeyInfo is kept as an opaque ASN1_ANY. (OpenSSL's
// templates are C macros that name these structs; they stay outside our
// namespaces and are used only in this file.)
namespace {

struct ToposTbsFields {
  ASN1_INTEGER* version;
  ASN1_INTEGER* serial;
  X509_ALGOR* signature;
  X509_NAME* issuer;
  X509_VAL* validity;
  X509_NAME* subject;
  ASN1_TYPE* public_key;  // left undecoded
  ASN1_BIT_STRING* issuer_uid;
  ASN1_BIT_STRING* subject_uid;
  STACK_OF(X509_EXTENSION) * extensions;
};

struct ToposCertificateFields {
  ToposTbsFields* tbs;
  X509_ALGOR* signature_algorithm;
  ASN1_BIT_STRING* signature;
};

ASN1_SEQUENCE(ToposTbsFields) = {
    ASN1_EXP_OPT(ToposTbsFields, version, ASN1_INTEGER, 0),
    ASN1_SIMPLE(ToposTbsFields, serial, ASN1_INTEGER),
    ASN1_SIMPLE(ToposTbsFields, signature, X509_ALGOR),
    ASN1_SIMPLE(ToposTbsFields, issuer, X509_NAME),
    ASN1_SIMPLE(ToposTbsFields, validity, X509_VAL),
    ASN1_SIMPLE(ToposTbsFields, subject, X509_NAME),
    ASN1_SIMPLE(ToposTbsFields, public_key, ASN1_ANY),
    ASN1_IMP_OPT(ToposTbsFields, issuer_uid, ASN1_BIT_STRING, 1),
    ASN1_IMP_OPT(ToposTbsFields, subject_uid, ASN1_BIT_STRING, 2),
    ASN1_EXP_SEQUENCE_OF_OPT(ToposTbsFields, extensions, X509_EXTENSION, 3),
} static_ASN1_SEQUENCE_END(ToposTbsFields)

ASN1_SEQUENCE(ToposCertificateFields) = {
    ASN1_SIMPLE(ToposCertificateFields, tbs, ToposTbsFields),
    ASN1_SIMPLE(ToposCertificateFields, signature_algorithm, X509_ALGOR),
    ASN1_SIMPLE(ToposCertificateFields, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(ToposCertificateFields)

}  // namespace

namespace topos::certs {

namespace {

struct FreeParsed {
  void operator()(ToposCertificateFields* parsed) const {
    ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(parsed), ASN1_ITEM_rptr(ToposCertificateFields));
  }
};

struct FreePemParts {
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  ~FreePemParts() {
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
};

}  // namespace

Result<CertificateFields> ReadCertificateFields(std::string_view pem) {
  ERR_clear_error();
  std::size_t blocks = 0;
  TOPOS_RETURN_IF_ERROR(internal::CheckPem(pem, "certificate", {"CERTIFICATE"}, &blocks));
  if (blocks != 1) {
    return Status::InvalidArgument("PEM holds " + std::to_string(blocks) +
                                   " certificates; expected exactly one");
  }
  internal::UniqueBio bio = internal::MemoryBio(pem);
  FreePemParts parts;
  long length = 0;
  if (PEM_read_bio(bio.get(), &parts.name, &parts.header, &parts.data, &length) != 1) {
    return Status::InvalidArgument(
        internal::WithOpenSslErrors("certificate PEM could not be decoded (corrupt base64?)"));
  }
  const unsigned char* cursor = parts.data;
  std::unique_ptr<ToposCertificateFields, FreeParsed> parsed(
      reinterpret_cast<ToposCertificateFields*>(
          ASN1_item_d2i(nullptr, &cursor, length, ASN1_ITEM_rptr(ToposCertificateFields))));
  if (parsed == nullptr) {
    return Status::InvalidArgument(
        internal::WithOpenSslErrors("certificate DER could not be parsed (truncated or corrupt?)"));
  }
  if (cursor != parts.data + length) {
    return Status::InvalidArgument("certificate DER has trailing bytes after the certificate");
  }
  const ToposTbsFields& tbs = *parsed->tbs;
  CertificateFields fields;
  fields.common_name = internal::NameEntry(tbs.subject, NID_commonName);
  fields.organizational_unit = internal::NameEntry(tbs.subject, NID_organizationalUnitName);
  fields.serial_hex = internal::SerialHex(tbs.serial);
  fields.not_after = internal::Asn1TimeToTimePoint(tbs.validity->notAfter);
  ERR_clear_error();
  return fields;
}

}  // namespace topos::certs
