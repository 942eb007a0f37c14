// A throw-away PKI for tests: a CA and one server certificate, written as PEM
// files into a directory the caller owns (and removes).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "certs/certificate_authority.h"
#include "certs/csr.h"
#include "certs/private_key.h"

namespace topos::testing {

struct TestPkiFiles {
  std::filesystem::path ca_file;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
};

inline void WriteTextFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// Creates `<dir>/<prefix>ca.pem`, `<prefix>cert.pem`, `<prefix>key.pem`: a
// fresh CA and a server certificate it issued for the given names. Fails the
// current test (ADD_FAILURE) on any error; check HasFatalFailure() after.
inline TestPkiFiles MakeTestPki(const std::filesystem::path& dir, const std::string& prefix,
                                const std::vector<std::string>& dns_names,
                                const std::vector<std::string>& ip_addresses) {
  TestPkiFiles files{dir / (prefix + "ca.pem"), dir / (prefix + "cert.pem"),
                     dir / (prefix + "key.pem")};
  auto ca = certs::CertificateAuthority::Create("Topos Test CA " + prefix);
  EXPECT_TRUE(ca.ok()) << ca.status().message();
  if (!ca.ok()) return files;
  auto key = certs::PrivateKey::Generate();
  EXPECT_TRUE(key.ok()) << key.status().message();
  if (!key.ok()) return files;
  auto csr = certs::Csr::Create(*key, "test-server", dns_names, ip_addresses);
  EXPECT_TRUE(csr.ok()) << csr.status().message();
  if (!csr.ok()) return files;
  certs::SigningPolicy policy;
  policy.common_name = "test-server";
  policy.allowed_dns_names = dns_names;
  policy.allowed_ip_addresses = ip_addresses;
  policy.usage = certs::Usage::kServer;
  auto cert = ca->Sign(*csr, policy);
  EXPECT_TRUE(cert.ok()) << cert.status().message();
  if (!cert.ok()) return files;
  WriteTextFile(files.ca_file, ca->certificate().ToPem());
  WriteTextFile(files.cert_file, cert->ToPem());
  WriteTextFile(files.key_file, key->ToPem());
  return files;
}

}  // namespace topos::testing
