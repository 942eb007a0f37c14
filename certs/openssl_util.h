// Internal to certs/: RAII owners for OpenSSL objects, PEM input checks,
// OpenSSL error-queue handling and small conversions shared by the .cc files.
// Nothing outside certs/ may include this header (it pulls in OpenSSL).
//
// Thread-safety: free functions over their arguments only; the OpenSSL error
// queue they read and clear is per thread.
#pragma once

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace topos::certs::internal {

// Calls an OpenSSL free function; lets unique_ptr own any OpenSSL object.
template <auto kFree>
struct Free {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};

using UniqueBio = std::unique_ptr<BIO, Free<BIO_free_all>>;
using UniqueBignum = std::unique_ptr<BIGNUM, Free<BN_free>>;
using UniqueEvpPkey = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using UniqueX509 = std::unique_ptr<X509, Free<X509_free>>;
using UniqueX509Req = std::unique_ptr<X509_REQ, Free<X509_REQ_free>>;
using UniqueX509Name = std::unique_ptr<X509_NAME, Free<X509_NAME_free>>;
using UniqueX509Ext = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION_free>>;
using UniqueGeneralNames = std::unique_ptr<GENERAL_NAMES, Free<GENERAL_NAMES_free>>;
using UniqueGeneralName = std::unique_ptr<GENERAL_NAME, Free<GENERAL_NAME_free>>;
using UniqueAsn1Integer = std::unique_ptr<ASN1_INTEGER, Free<ASN1_INTEGER_free>>;
using UniqueX509Store = std::unique_ptr<X509_STORE, Free<X509_STORE_free>>;
using UniqueX509StoreCtx = std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX_free>>;

inline void FreeX509Stack(STACK_OF(X509) * s) { sk_X509_free(s); }
inline void FreeExtensionStack(STACK_OF(X509_EXTENSION) * s) {
  sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
}
// Does not own the certificates (they belong to Certificate objects).
using UniqueX509Stack = std::unique_ptr<STACK_OF(X509), Free<FreeX509Stack>>;
using UniqueExtensionStack = std::unique_ptr<STACK_OF(X509_EXTENSION), Free<FreeExtensionStack>>;

// Larger inputs are refused before OpenSSL sees them: nothing we parse
// (a key, a CSR, a short chain) comes near this, and a cap bounds the work an
// untrusted peer can make us do.
inline constexpr std::size_t kMaxPemBytes = 64 * 1024;

// Drains this thread's OpenSSL error queue and returns its reasons joined by
// "; " (empty if the queue was empty). Always leaves the queue clear, so a
// failure here is never reported again by an unrelated later call.
std::string TakeOpenSslErrors();

// For failures that only a broken environment can cause (out of memory while
// encoding an object we built): prints `what` and OpenSSL's reasons, aborts.
[[noreturn]] void Die(const std::string& what);

// `message`, plus ": <OpenSSL reasons>" when the queue has any; clears it.
std::string WithOpenSslErrors(const std::string& message);

// Checks `pem` before parsing: not empty, at most kMaxPemBytes, has at least
// one "-----BEGIN" line, and every block's label is one of `labels`. `what`
// names the expected object in messages ("certificate"). On success stores
// the number of PEM blocks in `*blocks` (if not null).
Status CheckPem(std::string_view pem, std::string_view what,
                std::initializer_list<std::string_view> labels, std::size_t* blocks = nullptr);

// A read-only memory BIO over `data` (which must outlive it).
UniqueBio MemoryBio(std::string_view data);
// Everything written to a memory BIO, as a string.
std::string BioContents(BIO* bio);

std::string PublicKeyToPem(EVP_PKEY* key);

// The first entry of `nid` (e.g. NID_commonName) in `name`, as UTF-8; "" if none.
std::string NameEntry(const X509_NAME* name, int nid);

// Splits subjectAltName entries into DNS names and IP addresses (text form).
// Returns an error naming the first entry of another type or a malformed IP
// address; the lists still hold every entry that could be read.
Status SplitGeneralNames(const GENERAL_NAMES* names, std::vector<std::string>* dns,
                         std::vector<std::string>* ips);

// The subjectAltName a CSR requests, or null if it requests none.
UniqueGeneralNames RequestSubjectAltNames(X509_REQ* req);

// Builds a subjectAltName value from DNS names and textual IP addresses.
Result<UniqueGeneralNames> MakeGeneralNames(const std::vector<std::string>& dns,
                                            const std::vector<std::string>& ips);

// Canonical text form of an IPv4/IPv6 address ("::1" for "0:0::1"), or "" if
// `text` is not an address.
std::string CanonicalIp(const std::string& text);

std::chrono::system_clock::time_point Asn1TimeToTimePoint(const ASN1_TIME* time);

// A serial number as lower-case hex of its magnitude ("-" first if negative,
// "00" for zero).
std::string SerialHex(const ASN1_INTEGER* serial);

}  // namespace topos::certs::internal
