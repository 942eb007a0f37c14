#include "certs/openssl_util.h"

#include <arpa/inet.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <utility>

#include "certs/crypto.h"

namespace topos::certs::internal {

std::string TakeOpenSslErrors() {
  std::string out;
  int kept = 0;
  while (unsigned long code = ERR_get_error()) {
    // The first few reasons say what went wrong; the rest of a deep queue is
    // usually the same failure repeated by each calling layer.
    if (kept == 3) continue;
    const char* reason = ERR_reason_error_string(code);
    std::string text;
    if (reason != nullptr) {
      text = reason;
    } else {
      char buf[256];
      ERR_error_string_n(code, buf, sizeof(buf));
      text = buf;
    }
    if (out.find(text) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += text;
    ++kept;
  }
  ERR_clear_error();
  return out;
}

std::string WithOpenSslErrors(const std::string& message) {
  std::string errors = TakeOpenSslErrors();
  if (errors.empty()) return message;
  return message + ": " + errors;
}

void Die(const std::string& what) {
  std::string errors = TakeOpenSslErrors();
  fprintf(stderr, "topos certs: %s failed: %s\n", what.c_str(),
          errors.empty() ? "no OpenSSL error recorded" : errors.c_str());
  abort();
}

namespace {

constexpr std::string_view kBegin = "-----BEGIN ";
constexpr std::string_view kDashes = "-----";

// Labels of all "-----BEGIN <label>-----" lines, in order.
std::vector<std::string> PemLabels(std::string_view pem) {
  std::vector<std::string> labels;
  std::size_t pos = 0;
  while ((pos = pem.find(kBegin, pos)) != std::string_view::npos) {
    pos += kBegin.size();
    std::size_t end = pem.find_first_of("\r\n", pos);
    std::string_view line = pem.substr(pos, end == std::string_view::npos ? pem.npos : end - pos);
    std::size_t dashes = line.find(kDashes);
    labels.emplace_back(line.substr(0, std::min<std::size_t>(dashes, 64)));
  }
  return labels;
}

}  // namespace

Status CheckPem(std::string_view pem, std::string_view what,
                std::initializer_list<std::string_view> labels, std::size_t* blocks) {
  const std::string expected = "\"-----BEGIN " + std::string(*labels.begin()) + "-----\"";
  if (pem.empty()) {
    return Status::InvalidArgument(std::string(what) + " PEM is empty (expected " + expected + ")");
  }
  if (pem.size() > kMaxPemBytes) {
    return Status::InvalidArgument("PEM input is " + std::to_string(pem.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxPemBytes));
  }
  std::vector<std::string> found = PemLabels(pem);
  if (found.empty()) {
    return Status::InvalidArgument(std::string(what) + " is not PEM: no " + expected +
                                   " line found");
  }
  for (const std::string& label : found) {
    if (std::find(labels.begin(), labels.end(), label) == labels.end()) {
      return Status::InvalidArgument("expected a PEM " + std::string(what) + " (" + expected +
                                     ") but found \"-----BEGIN " + label + "-----\"");
    }
  }
  if (blocks != nullptr) *blocks = found.size();
  return Status::Ok();
}

UniqueBio MemoryBio(std::string_view data) {
  // The size was capped by CheckPem (or is our own output), so it fits an int.
  UniqueBio bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (bio == nullptr) Die("creating a memory BIO");
  return bio;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr) return "";
  return std::string(data, static_cast<std::size_t>(size));
}

std::string PublicKeyToPem(EVP_PKEY* key) {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || key == nullptr || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
    ERR_clear_error();
    return "";
  }
  return BioContents(bio.get());
}

std::string NameEntry(const X509_NAME* name, int nid) {
  if (name == nullptr) return "";
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return "";
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) {
    ERR_clear_error();
    return "";
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return out;
}

Status SplitGeneralNames(const GENERAL_NAMES* names, std::vector<std::string>* dns,
                         std::vector<std::string>* ips) {
  Status first_error;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* s = name->d.dNSName;
      dns->emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                        static_cast<std::size_t>(ASN1_STRING_length(s)));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* s = name->d.iPAddress;
      int length = ASN1_STRING_length(s);
      char text[INET6_ADDRSTRLEN] = {};
      if ((length == 4 || length == 16) &&
          inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), text,
                    sizeof(text)) != nullptr) {
        ips->emplace_back(text);
      } else if (first_error.ok()) {
        first_error = Status::InvalidArgument("subjectAltName holds an IP address of " +
                                              std::to_string(length) +
                                              " bytes; expected 4 (IPv4) or 16 (IPv6)");
      }
    } else if (first_error.ok()) {
      first_error = Status::InvalidArgument("subjectAltName holds an entry of type " +
                                            std::to_string(name->type) +
                                            "; only DNS names and IP addresses are supported");
    }
  }
  return first_error;
}

UniqueGeneralNames RequestSubjectAltNames(X509_REQ* req) {
  UniqueExtensionStack extensions(X509_REQ_get_extensions(req));
  if (extensions == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  int index = X509v3_get_ext_by_NID(extensions.get(), NID_subject_alt_name, -1);
  if (index < 0) return nullptr;
  UniqueGeneralNames names(
      static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(X509v3_get_ext(extensions.get(), index))));
  ERR_clear_error();
  return names;
}

std::string CanonicalIp(const std::string& text) {
  unsigned char bytes[16];
  char out[INET6_ADDRSTRLEN] = {};
  for (int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, text.c_str(), bytes) == 1 &&
        inet_ntop(family, bytes, out, sizeof(out)) != nullptr) {
      return out;
    }
  }
  return "";
}

Result<UniqueGeneralNames> MakeGeneralNames(const std::vector<std::string>& dns,
                                            const std::vector<std::string>& ips) {
  UniqueGeneralNames names(GENERAL_NAMES_new());
  if (names == nullptr) return Status::Internal(WithOpenSslErrors("allocating subjectAltName"));
  auto push = [&](UniqueGeneralName name) {
    if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) return false;
    name.release();  // now owned by `names`
    return true;
  };
  for (const std::string& d : dns) {
    UniqueGeneralName name(GENERAL_NAME_new());
    ASN1_IA5STRING* value = ASN1_IA5STRING_new();
    if (name == nullptr || value == nullptr ||
        ASN1_STRING_set(value, d.data(), static_cast<int>(d.size())) != 1) {
      ASN1_IA5STRING_free(value);
      return Status::Internal(WithOpenSslErrors("building DNS name \"" + d + "\""));
    }
    GENERAL_NAME_set0_value(name.get(), GEN_DNS, value);
    if (!push(std::move(name))) return Status::Internal(WithOpenSslErrors("adding DNS name"));
  }
  for (const std::string& ip : ips) {
    ASN1_OCTET_STRING* value = a2i_IPADDRESS(ip.c_str());
    if (value == nullptr) {
      ERR_clear_error();
      return Status::InvalidArgument("\"" + ip + "\" is not an IPv4 or IPv6 address");
    }
    UniqueGeneralName name(GENERAL_NAME_new());
    if (name == nullptr) {
      ASN1_OCTET_STRING_free(value);
      return Status::Internal(WithOpenSslErrors("building IP address"));
    }
    GENERAL_NAME_set0_value(name.get(), GEN_IPADD, value);
    if (!push(std::move(name))) return Status::Internal(WithOpenSslErrors("adding IP address"));
  }
  return names;
}

std::chrono::system_clock::time_point Asn1TimeToTimePoint(const ASN1_TIME* time) {
  std::tm tm = {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    ERR_clear_error();
    return std::chrono::system_clock::time_point();
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string SerialHex(const ASN1_INTEGER* serial) {
  UniqueBignum bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (bn == nullptr) Die("reading a certificate serial number");
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn.get())), '\0');
  BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(bytes.data()));
  if (bytes.empty()) return "00";
  return (BN_is_negative(bn.get()) ? "-" : "") + HexEncode(bytes);
}

}  // namespace topos::certs::internal
