#include "certs/certificate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>

#include "certs/certificate_authority.h"
#include "certs/crypto.h"
#include "tests/certs/test_util.h"

namespace topos::certs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// A CA and one certificate it issued, shared by the tests below.
class CertificateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<CertificateAuthority> ca = CertificateAuthority::Create("Test Root CA");
    ASSERT_TRUE(ca.ok()) << ca.status().message();
    ca_.emplace(std::move(ca).value());
    Result<PrivateKey> key = PrivateKey::Generate();
    ASSERT_TRUE(key.ok());
    key_.emplace(std::move(key).value());
    Result<Csr> csr = Csr::Create(*key_, "ignored", {"web-1.example"});
    ASSERT_TRUE(csr.ok());
    SigningPolicy policy;
    policy.common_name = "web-1";
    policy.organizational_unit = "pool:web";
    policy.allowed_dns_names = {"web-1.example"};
    policy.usage = Usage::kServer;
    Result<Certificate> leaf = ca_->Sign(*csr, policy);
    ASSERT_TRUE(leaf.ok()) << leaf.status().message();
    leaf_.emplace(std::move(leaf).value());
  }

  std::optional<CertificateAuthority> ca_;
  std::optional<PrivateKey> key_;
  std::optional<Certificate> leaf_;
};

TEST_F(CertificateTest, ExposesFields) {
  Result<Certificate> cert = Certificate::FromPem(leaf_->ToPem());
  ASSERT_TRUE(cert.ok()) << cert.status().message();
  EXPECT_EQ(cert->common_name(), "web-1");
  EXPECT_EQ(cert->organizational_unit(), "pool:web");
  EXPECT_EQ(cert->issuer_common_name(), "Test Root CA");
  EXPECT_THAT(cert->dns_names(), ElementsAre("web-1.example"));
  EXPECT_THAT(cert->ip_addresses(), IsEmpty());
  EXPECT_FALSE(cert->is_ca());
  EXPECT_TRUE(ca_->certificate().is_ca());
  EXPECT_EQ(cert->serial_hex(), leaf_->serial_hex());
  EXPECT_EQ(cert->serial_hex().size(), 32u);
  EXPECT_LT(cert->not_before(), std::chrono::system_clock::now());
  EXPECT_GT(cert->not_after(), std::chrono::system_clock::now());
  EXPECT_EQ(cert->PublicKeyPem(), key_->PublicKeyPem());
  EXPECT_THAT(cert->ToPem(), StartsWith("-----BEGIN CERTIFICATE-----\n"));
}

TEST_F(CertificateTest, MatchesOnlyItsOwnKey) {
  EXPECT_TRUE(leaf_->MatchesKey(*key_));
  EXPECT_FALSE(leaf_->MatchesKey(ca_->key()));
  EXPECT_TRUE(ca_->certificate().MatchesKey(ca_->key()));
}

TEST_F(CertificateTest, FingerprintIsSha256OfDer) {
  std::string fingerprint = leaf_->Sha256Fingerprint();
  EXPECT_EQ(fingerprint.size(), 64u);
  EXPECT_EQ(fingerprint, Sha256Hex(testing::PemToDer(leaf_->ToPem())));

  testing::TempDir dir;
  testing::CommandResult result = testing::RunCommand(
      "openssl x509 -noout -fingerprint -sha256 -in " + dir.Write("leaf.pem", leaf_->ToPem()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::string theirs = result.output.substr(result.output.find('=') + 1);
  std::erase_if(theirs, [](char c) { return c == ':' || c == '\n'; });
  std::transform(theirs.begin(), theirs.end(), theirs.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  EXPECT_EQ(fingerprint, theirs);
}

TEST_F(CertificateTest, SerialMatchesOpenSsl) {
  testing::TempDir dir;
  testing::CommandResult result = testing::RunCommand("openssl x509 -noout -serial -in " +
                                                      dir.Write("leaf.pem", leaf_->ToPem()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::string theirs = result.output.substr(result.output.find('=') + 1, 32);
  std::transform(theirs.begin(), theirs.end(), theirs.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  EXPECT_EQ(leaf_->serial_hex(), theirs);
}

TEST_F(CertificateTest, BundleRoundTrips) {
  std::string pem = BundleToPem({*leaf_, ca_->certificate()});
  Result<std::vector<Certificate>> bundle = Certificate::BundleFromPem(pem);
  ASSERT_TRUE(bundle.ok()) << bundle.status().message();
  ASSERT_EQ(bundle->size(), 2u);
  EXPECT_EQ((*bundle)[0].Sha256Fingerprint(), leaf_->Sha256Fingerprint());
  EXPECT_EQ((*bundle)[1].Sha256Fingerprint(), ca_->certificate().Sha256Fingerprint());
  EXPECT_EQ(BundleToPem(*bundle), pem);

  // A single certificate is a bundle of one; two are not a single certificate.
  EXPECT_EQ(Certificate::BundleFromPem(leaf_->ToPem())->size(), 1u);
  Result<Certificate> one = Certificate::FromPem(pem);
  ASSERT_FALSE(one.ok());
  EXPECT_THAT(one.status().message(), HasSubstr("PEM holds 2 certificates"));
}

TEST_F(CertificateTest, RefusesBadPem) {
  std::string good = leaf_->ToPem();
  struct Case {
    std::string pem;
    std::string error;
  };
  const Case cases[] = {
      {"", "empty"},
      {std::string(1 << 20, 'x'), "PEM input is 1048576 bytes; the limit is 65536"},
      {"not a certificate at all", "not PEM"},
      {good.substr(0, good.size() / 2), "could not be parsed"},
      {good.substr(0, good.find("-----END")), "could not be parsed"},
      {"-----BEGIN CERTIFICATE-----\n()()()()\n-----END CERTIFICATE-----\n", "could not be parsed"},
      {"-----BEGIN CERTIFICATE-----\nAAAAAAAAAAAAAAAA\n-----END CERTIFICATE-----\n",
       "could not be parsed"},
      {key_->ToPem(),
       "expected a PEM certificate (\"-----BEGIN CERTIFICATE-----\") but found "
       "\"-----BEGIN PRIVATE KEY-----\""},
      {Csr::Create(*key_, "x", {})->ToPem(), "but found \"-----BEGIN CERTIFICATE REQUEST-----\""},
  };
  for (const Case& c : cases) {
    Result<Certificate> cert = Certificate::FromPem(c.pem);
    ASSERT_FALSE(cert.ok()) << c.pem.substr(0, 80);
    EXPECT_EQ(cert.status().code(), Status::Code::kInvalidArgument);
    EXPECT_THAT(cert.status().message(), HasSubstr(c.error)) << c.pem.substr(0, 80);
    Result<std::vector<Certificate>> bundle = Certificate::BundleFromPem(c.pem);
    EXPECT_FALSE(bundle.ok()) << c.pem.substr(0, 80);
  }
  Result<std::vector<Certificate>> mixed =
      Certificate::BundleFromPem(good + good.substr(0, good.size() - 30));
  ASSERT_FALSE(mixed.ok());
  EXPECT_THAT(mixed.status().message(), HasSubstr("certificate 2 of 2 in the bundle"));
  EXPECT_TRUE(Certificate::FromPem(good).ok());
}

TEST_F(CertificateTest, ReadsIpAddressSans) {
  testing::TempDir dir;
  testing::CommandResult made =
      testing::RunCommand("openssl req -new -key " + dir.Write("key.pem", key_->ToPem()) +
                          " -subj /CN=db-1 -addext subjectAltName=IP:192.0.2.10,IP:2001:db8::10");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  Result<Csr> csr = Csr::FromPem(made.output);
  ASSERT_TRUE(csr.ok()) << csr.status().message();
  SigningPolicy policy;
  policy.common_name = "db-1";
  policy.allowed_ip_addresses = {"192.0.2.10", "2001:0db8:0::0010"};
  Result<Certificate> cert = ca_->Sign(*csr, policy);
  ASSERT_TRUE(cert.ok()) << cert.status().message();
  EXPECT_THAT(cert->ip_addresses(), ElementsAre("192.0.2.10", "2001:db8::10"));
  EXPECT_THAT(cert->dns_names(), IsEmpty());
}

}  // namespace
}  // namespace topos::certs
