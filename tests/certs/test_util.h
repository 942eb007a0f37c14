// Helpers for the certs tests: an agent certificate from a CA, PEM <-> DER
// without OpenSSL headers (tests use the library's public API only),
// temporary directories, and running the `openssl` command-line tool to
// cross-check our output.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "certs/certificate_authority.h"

namespace topos::certs::testing {

inline constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

inline std::string Base64Decode(std::string_view text) {
  std::string out;
  unsigned int buffer = 0;
  int bits = 0;
  for (char c : text) {
    std::size_t value = kBase64Alphabet.find(c);
    if (value == std::string_view::npos) continue;  // newlines, padding
    buffer = (buffer << 6) | static_cast<unsigned int>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

inline std::string Base64Encode(std::string_view data) {
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    unsigned int n = (static_cast<unsigned char>(data[i]) << 16) |
                     (static_cast<unsigned char>(data[i + 1]) << 8) |
                     static_cast<unsigned char>(data[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kBase64Alphabet[(n >> shift) & 63]);
  }
  if (i + 1 == data.size()) {
    unsigned int n = static_cast<unsigned char>(data[i]) << 16;
    out += {kBase64Alphabet[(n >> 18) & 63], kBase64Alphabet[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == data.size()) {
    unsigned int n = (static_cast<unsigned char>(data[i]) << 16) |
                     (static_cast<unsigned char>(data[i + 1]) << 8);
    out += {kBase64Alphabet[(n >> 18) & 63], kBase64Alphabet[(n >> 12) & 63],
            kBase64Alphabet[(n >> 6) & 63], '='};
  }
  return out;
}

// The DER inside the first PEM block.
inline std::string PemToDer(std::string_view pem) {
  std::size_t begin = pem.find('\n', pem.find("-----BEGIN "));
  std::size_t end = pem.find("-----END ");
  return Base64Decode(pem.substr(begin + 1, end - begin - 1));
}

inline std::string DerToPem(std::string_view label, std::string_view der) {
  std::string body = Base64Encode(der);
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (std::size_t i = 0; i < body.size(); i += 64) out += body.substr(i, 64) + "\n";
  return out + "-----END " + std::string(label) + "-----\n";
}

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("topos-certs-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++) +
             "-" + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `content` to `name` inside the directory; returns the full path.
  std::string Write(const std::string& name, const std::string& content) const {
    std::filesystem::path file = path_ / name;
    std::ofstream(file, std::ios::binary) << content;
    return file.string();
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// A client certificate for `key` as the controller gives an agent
// (CN and DNS name web-1.example.test, OU "agent"), issued by `ca`.
inline Certificate IssueAgentCertificate(const CertificateAuthority& ca, const PrivateKey& key) {
  auto csr = Csr::Create(key, "web-1.example.test", {"web-1.example.test"});
  EXPECT_TRUE(csr.ok());
  SigningPolicy policy;
  policy.common_name = "web-1.example.test";
  policy.organizational_unit = "agent";
  policy.allowed_dns_names = {"web-1.example.test"};
  policy.usage = Usage::kClient;
  auto certificate = ca.Sign(*csr, policy);
  EXPECT_TRUE(certificate.ok()) << certificate.status().message();
  return *certificate;
}

}  // namespace topos::certs::testing
