// ReadCertificateFields gives what a full parse gives, for any key type,
// and refuses everything that is not exactly one certificate.
#include "certs/certificate_fields.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "certs/certificate.h"
#include "certs/certificate_authority.h"
#include "certs/csr.h"
#include "certs/private_key.h"
#include "tests/certs/test_util.h"

namespace topos::certs {
namespace {

using ::testing::HasSubstr;

void ExpectSameAsFullParse(const std::string& pem) {
  Result<Certificate> full = Certificate::FromPem(pem);
  ASSERT_TRUE(full.ok()) << full.status().message();
  Result<CertificateFields> fields = ReadCertificateFields(pem);
  ASSERT_TRUE(fields.ok()) << fields.status().message();
  EXPECT_EQ(fields->common_name, full->common_name());
  EXPECT_EQ(fields->organizational_unit, full->organizational_unit());
  EXPECT_EQ(fields->serial_hex, full->serial_hex());
  EXPECT_EQ(fields->not_after, full->not_after());
}

class CertificateFieldsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<CertificateAuthority> ca = CertificateAuthority::Create("Fields Test CA");
    ASSERT_TRUE(ca.ok()) << ca.status().message();
    ca_.emplace(std::move(ca).value());
    Result<PrivateKey> key = PrivateKey::Generate();
    ASSERT_TRUE(key.ok());
    leaf_pem_ = testing::IssueAgentCertificate(*ca_, *key).ToPem();
  }

  std::optional<CertificateAuthority> ca_;
  std::string leaf_pem_;
};

TEST_F(CertificateFieldsTest, ReadsTheSameFieldsAsAFullParse) {
  ExpectSameAsFullParse(leaf_pem_);
  ExpectSameAsFullParse(ca_->certificate().ToPem());  // self-signed, CA extensions, no OU
  Result<CertificateFields> fields = ReadCertificateFields(leaf_pem_);
  ASSERT_TRUE(fields.ok());
  EXPECT_EQ(fields->common_name, "web-1.example.test");
  EXPECT_EQ(fields->organizational_unit, "agent");
}

TEST_F(CertificateFieldsTest, ReadsCertificatesWithOtherKeysAndVersions) {
  testing::TempDir dir;
  // An RSA key, and a version 1 certificate (no version field, no extensions).
  std::string key = dir.File("rsa.key"), csr = dir.File("v1.csr");
  auto made = testing::RunCommand(
      "(openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " + dir.File("rsa.pem") +
      " -days 3 -subj /CN=rsa-host/OU=operator && openssl req -new -key " + key +
      " -subj /CN=v1-host/OU=agent -out " + csr + " && openssl x509 -req -in " + csr +
      " -signkey " + key + " -days 2 -set_serial 0x7f01 -out " + dir.File("v1.pem") + ")");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  auto read = [&](const std::string& name) {
    std::ifstream in(dir.File(name));
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  ExpectSameAsFullParse(read("rsa.pem"));
  ExpectSameAsFullParse(read("v1.pem"));
  Result<CertificateFields> v1 = ReadCertificateFields(read("v1.pem"));
  ASSERT_TRUE(v1.ok()) << v1.status().message();
  EXPECT_EQ(v1->common_name, "v1-host");
  EXPECT_EQ(v1->serial_hex, "7f01");
  auto version = testing::RunCommand("openssl x509 -in " + dir.File("v1.pem") + " -noout -text");
  EXPECT_THAT(version.output, HasSubstr("Version: 1 (0x0)"));
}

TEST_F(CertificateFieldsTest, RefusesWhatIsNotExactlyOneCertificate) {
  Result<PrivateKey> key = PrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  std::string der = testing::PemToDer(leaf_pem_);
  struct Case {
    std::string pem;
    std::string error;
  };
  const Case cases[] = {
      {"", "empty"},
      {"not a certificate at all", "not PEM"},
      {leaf_pem_ + leaf_pem_, "PEM holds 2 certificates; expected exactly one"},
      {leaf_pem_.substr(0, leaf_pem_.find("-----END")), "could not be decoded"},
      {"-----BEGIN CERTIFICATE-----\n()()()()\n-----END CERTIFICATE-----\n", "could not be"},
      {testing::DerToPem("CERTIFICATE", der.substr(0, der.size() / 2)), "could not be parsed"},
      {testing::DerToPem("CERTIFICATE", "\x30\x03\x02\x01\x01"), "could not be parsed"},
      {testing::DerToPem("CERTIFICATE", der + "junk"), "trailing bytes"},
      {key->ToPem(), "but found \"-----BEGIN PRIVATE KEY-----\""},
      {Csr::Create(*key, "x", {})->ToPem(), "but found \"-----BEGIN CERTIFICATE REQUEST-----\""},
  };
  for (const Case& c : cases) {
    Result<CertificateFields> fields = ReadCertificateFields(c.pem);
    ASSERT_FALSE(fields.ok()) << c.pem.substr(0, 80);
    EXPECT_EQ(fields.status().code(), Status::Code::kInvalidArgument);
    EXPECT_THAT(fields.status().message(), HasSubstr(c.error)) << c.pem.substr(0, 80);
  }
}

}  // namespace
}  // namespace topos::certs
