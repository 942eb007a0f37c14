#include "certs/csr.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include "certs/openssl_util.h"

namespace topos::certs {

using internal::UniqueBio;
using internal::UniqueExtensionStack;
using internal::UniqueGeneralNames;
using internal::UniqueX509Ext;
using internal::UniqueX509Req;
using internal::WithOpenSslErrors;

namespace {

// Longest DNS name (RFC 1035) and longest subject CN (RFC 5280 ub-common-name).
constexpr std::size_t kMaxDnsName = 253;
constexpr std::size_t kMaxCommonName = 64;

Status CheckName(const std::string& name, std::string_view what, std::size_t max_length) {
  if (name.empty()) return Status::InvalidArgument(std::string(what) + " is empty");
  if (name.size() > max_length) {
    return Status::InvalidArgument(std::string(what) + " \"" + name.substr(0, 32) + "...\" is " +
                                   std::to_string(name.size()) + " bytes; the limit is " +
                                   std::to_string(max_length));
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      return Status::InvalidArgument(std::string(what) + " contains a control character");
    }
  }
  return Status::Ok();
}

Status CheckDnsName(const std::string& name) {
  TOPOS_RETURN_IF_ERROR(CheckName(name, "DNS name", kMaxDnsName));
  for (unsigned char c : name) {
    // subjectAltName DNS entries are IA5String: ASCII only.
    if (c >= 0x80 || c == ' ') {
      return Status::InvalidArgument("DNS name \"" + name +
                                     "\" has a space or non-ASCII character; write "
                                     "internationalized names in their xn-- (punycode) form");
    }
  }
  return Status::Ok();
}

// Sets the request's public key to `key`'s.
//
// OpenSSL 3.0's X509_REQ_set_pubkey, given a provider key (what
// PrivateKey::Generate makes), runs an encoder to DER and a decoder back,
// looking both up among the providers by name on every call: 12% of a
// simulated agent's CPU per certificate request. For EC keys the public
// point is read out and set through the legacy, table-driven EC method,
// which encodes it directly; the request carries the same
// SubjectPublicKeyInfo bytes either way (tested). Other key types, or any
// failure here, take the general path, which reports its own errors.
Status SetRequestPublicKey(X509_REQ* req, EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
    char group[80] = {};
    unsigned char point[256];
    std::size_t point_length = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       nullptr) == 1 &&
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point,
                                        &point_length) == 1) {
      int nid = OBJ_sn2nid(group);
      if (nid == NID_undef) nid = EC_curve_nist2nid(group);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      EC_KEY* ec = nid != NID_undef ? EC_KEY_new_by_curve_name(nid) : nullptr;
      const unsigned char* in = point;
      const bool decoded =
          ec != nullptr && o2i_ECPublicKey(&ec, &in, static_cast<long>(point_length)) != nullptr;
      internal::UniqueEvpPkey legacy(decoded ? EVP_PKEY_new() : nullptr);
      const bool assigned = legacy != nullptr && EVP_PKEY_assign_EC_KEY(legacy.get(), ec) == 1;
      if (!assigned) EC_KEY_free(ec);
#pragma GCC diagnostic pop
      if (assigned && X509_REQ_set_pubkey(req, legacy.get()) == 1) return Status::Ok();
    }
    ERR_clear_error();
  }
  if (X509_REQ_set_pubkey(req, key) != 1) {
    return Status::Internal(WithOpenSslErrors("setting the CSR public key"));
  }
  return Status::Ok();
}

}  // namespace

Csr::Csr(X509_req_st* req) : req_(req, X509_REQ_free) {}

Result<Csr> Csr::Create(const PrivateKey& key, const std::string& common_name,
                        const std::vector<std::string>& dns_names,
                        const std::vector<std::string>& ip_addresses) {
  ERR_clear_error();
  TOPOS_RETURN_IF_ERROR(CheckName(common_name, "common name", kMaxCommonName));
  for (const std::string& name : dns_names) TOPOS_RETURN_IF_ERROR(CheckDnsName(name));

  UniqueX509Req req(X509_REQ_new());
  if (req == nullptr || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1) {
    return Status::Internal(WithOpenSslErrors("allocating a CSR"));
  }
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  if (X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    return Status::InvalidArgument(
        WithOpenSslErrors("common name \"" + common_name + "\" cannot be encoded"));
  }
  TOPOS_RETURN_IF_ERROR(SetRequestPublicKey(req.get(), key.native()));
  if (!dns_names.empty() || !ip_addresses.empty()) {
    Result<UniqueGeneralNames> names = internal::MakeGeneralNames(dns_names, ip_addresses);
    if (!names.ok()) return names.status();
    UniqueX509Ext extension(X509V3_EXT_i2d(NID_subject_alt_name, 0, names->get()));
    UniqueExtensionStack extensions(sk_X509_EXTENSION_new_null());
    if (extension == nullptr || extensions == nullptr ||
        sk_X509_EXTENSION_push(extensions.get(), extension.get()) <= 0) {
      return Status::Internal(WithOpenSslErrors("building the CSR subjectAltName"));
    }
    extension.release();  // now owned by `extensions`
    if (X509_REQ_add_extensions(req.get(), extensions.get()) != 1) {
      return Status::Internal(WithOpenSslErrors("adding the CSR subjectAltName"));
    }
  }
  if (X509_REQ_sign(req.get(), key.native(), EVP_sha256()) <= 0) {
    return Status::Internal(WithOpenSslErrors("signing the CSR"));
  }
  return Csr(req.release());
}

Result<Csr> Csr::FromPem(std::string_view pem) {
  ERR_clear_error();
  std::size_t blocks = 0;
  TOPOS_RETURN_IF_ERROR(internal::CheckPem(
      pem, "certificate request", {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"}, &blocks));
  if (blocks != 1) {
    return Status::InvalidArgument("PEM holds " + std::to_string(blocks) +
                                   " certificate requests; expected exactly one");
  }
  UniqueBio bio = internal::MemoryBio(pem);
  UniqueX509Req req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (req == nullptr) {
    return Status::InvalidArgument(
        WithOpenSslErrors("certificate request PEM could not be parsed (truncated or corrupt?)"));
  }
  EVP_PKEY* public_key = X509_REQ_get0_pubkey(req.get());
  if (public_key == nullptr) {
    return Status::InvalidArgument(
        WithOpenSslErrors("certificate request has no usable public key"));
  }
  if (X509_REQ_verify(req.get(), public_key) != 1) {
    return Status::InvalidArgument(WithOpenSslErrors("CSR signature does not verify"));
  }
  ERR_clear_error();
  return Csr(req.release());
}

std::string Csr::ToPem() const {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509_REQ(bio.get(), req_.get()) != 1) {
    internal::Die("encoding a CSR as PEM");
  }
  return internal::BioContents(bio.get());
}

std::string Csr::common_name() const {
  return internal::NameEntry(X509_REQ_get_subject_name(req_.get()), NID_commonName);
}

std::vector<std::string> Csr::dns_names() const {
  std::vector<std::string> dns, ips;
  UniqueGeneralNames names = internal::RequestSubjectAltNames(req_.get());
  (void)internal::SplitGeneralNames(names.get(), &dns, &ips);
  return dns;
}

std::vector<std::string> Csr::ip_addresses() const {
  std::vector<std::string> dns, ips;
  UniqueGeneralNames names = internal::RequestSubjectAltNames(req_.get());
  (void)internal::SplitGeneralNames(names.get(), &dns, &ips);
  return ips;
}

std::string Csr::PublicKeyPem() const {
  return internal::PublicKeyToPem(X509_REQ_get0_pubkey(req_.get()));
}

}  // namespace topos::certs
