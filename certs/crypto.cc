#include "certs/crypto.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

namespace topos::certs {

std::string RandomBytes(std::size_t count) {
  std::string out(count, '\0');
  auto* data = reinterpret_cast<unsigned char*>(out.data());
  // RAND_bytes takes an int length, so large requests go in chunks.
  for (std::size_t done = 0; done < count;) {
    int chunk = static_cast<int>(std::min<std::size_t>(count - done, INT_MAX));
    if (RAND_bytes(data + done, chunk) != 1) {
      char reason[256] = "no OpenSSL error recorded";
      if (unsigned long code = ERR_get_error()) ERR_error_string_n(code, reason, sizeof(reason));
      // Keys, serials and tokens made from bad randomness are a silent
      // security hole; stopping is the only safe answer.
      fprintf(stderr, "topos: the system cannot supply random bytes (RAND_bytes: %s)\n", reason);
      abort();
    }
    done += static_cast<std::size_t>(chunk);
  }
  return out;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0f]);
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    char reason[256] = "no OpenSSL error recorded";
    if (unsigned long code = ERR_get_error()) ERR_error_string_n(code, reason, sizeof(reason));
    fprintf(stderr, "topos: SHA-256 is unavailable (EVP_Digest: %s)\n", reason);
    abort();
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace {

[[noreturn]] void Sha256Unavailable(const char* function) {
  char reason[256] = "no OpenSSL error recorded";
  if (unsigned long code = ERR_get_error()) ERR_error_string_n(code, reason, sizeof(reason));
  fprintf(stderr, "topos: SHA-256 is unavailable (%s: %s)\n", function, reason);
  abort();
}

}  // namespace

struct Sha256Hasher::Context {
  EVP_MD_CTX* md = nullptr;
  ~Context() { EVP_MD_CTX_free(md); }
};

Sha256Hasher::Sha256Hasher() : context_(std::make_unique<Context>()) {
  context_->md = EVP_MD_CTX_new();
  if (context_->md == nullptr) Sha256Unavailable("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex(context_->md, EVP_sha256(), nullptr) != 1) {
    Sha256Unavailable("EVP_DigestInit_ex");
  }
}

Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::Update(std::string_view data) {
  if (data.empty()) return;
  if (EVP_DigestUpdate(context_->md, data.data(), data.size()) != 1) {
    Sha256Unavailable("EVP_DigestUpdate");
  }
}

std::string Sha256Hasher::FinishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_->md, digest, &length) != 1) {
    Sha256Unavailable("EVP_DigestFinal_ex");
  }
  if (EVP_DigestInit_ex(context_->md, EVP_sha256(), nullptr) != 1) {
    Sha256Unavailable("EVP_DigestInit_ex");
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace topos::certs
