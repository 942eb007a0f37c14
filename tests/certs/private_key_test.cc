#include "certs/private_key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "certs/certificate_authority.h"
#include "tests/certs/test_util.h"

namespace topos::certs {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(PrivateKey, GeneratesEcdsaP256ByDefault) {
  Result<PrivateKey> key = PrivateKey::Generate();
  ASSERT_TRUE(key.ok()) << key.status().message();
  EXPECT_EQ(key->type(), KeyType::kEcdsaP256);
  EXPECT_THAT(key->ToPem(), StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  EXPECT_THAT(key->PublicKeyPem(), StartsWith("-----BEGIN PUBLIC KEY-----\n"));
}

TEST(PrivateKey, PemRoundTripKeepsKey) {
  for (KeyType type : {KeyType::kEcdsaP256, KeyType::kRsa3072}) {
    Result<PrivateKey> key = PrivateKey::Generate(type);
    ASSERT_TRUE(key.ok()) << key.status().message();
    EXPECT_EQ(key->type(), type);
    Result<PrivateKey> parsed = PrivateKey::FromPem(key->ToPem());
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    EXPECT_EQ(parsed->type(), type);
    EXPECT_EQ(parsed->PublicKeyPem(), key->PublicKeyPem());
    EXPECT_EQ(parsed->ToPem(), key->ToPem());
  }
}

TEST(PrivateKey, GeneratedKeysDiffer) {
  Result<PrivateKey> a = PrivateKey::Generate();
  Result<PrivateKey> b = PrivateKey::Generate();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->PublicKeyPem(), b->PublicKeyPem());
}

TEST(PrivateKey, ParsesKeyTypeNames) {
  EXPECT_EQ(*ParseKeyType("ecdsa-p256"), KeyType::kEcdsaP256);
  EXPECT_EQ(*ParseKeyType("rsa-3072"), KeyType::kRsa3072);
  EXPECT_EQ(KeyTypeName(KeyType::kRsa3072), "rsa-3072");
  Result<KeyType> bad = ParseKeyType("dsa");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("\"dsa\""));
}

TEST(PrivateKey, RefusesBadPem) {
  std::string good = PrivateKey::Generate()->ToPem();
  struct Case {
    std::string pem;
    std::string error;
  };
  const Case cases[] = {
      {"", "empty"},
      {std::string(70000, 'A'), "PEM input is 70000 bytes; the limit is 65536"},
      {"this is not PEM", "not PEM"},
      {good.substr(0, good.size() / 2), "could not be parsed"},
      {"-----BEGIN PRIVATE KEY-----\n!!!!$$$$****\n-----END PRIVATE KEY-----\n",
       "could not be parsed"},
      {"-----BEGIN PRIVATE KEY-----\nAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n",
       "could not be parsed"},
      {"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
       "but found \"-----BEGIN PUBLIC KEY-----\""},
      {good + good, "expected exactly one"},
      {"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
       "encrypted"},
  };
  for (const Case& c : cases) {
    Result<PrivateKey> key = PrivateKey::FromPem(c.pem);
    ASSERT_FALSE(key.ok()) << c.pem.substr(0, 80);
    EXPECT_EQ(key.status().code(), Status::Code::kInvalidArgument);
    EXPECT_THAT(key.status().message(), HasSubstr(c.error)) << c.pem.substr(0, 80);
  }
  // A failure leaves nothing behind that spoils the next parse.
  EXPECT_TRUE(PrivateKey::FromPem(good).ok());
}

TEST(PrivateKey, RefusesCertificatePassedAsKey) {
  Result<CertificateAuthority> ca = CertificateAuthority::Create("Test CA");
  ASSERT_TRUE(ca.ok()) << ca.status().message();
  Result<PrivateKey> key = PrivateKey::FromPem(ca->certificate().ToPem());
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.status().message(),
              HasSubstr("expected a PEM private key (\"-----BEGIN PRIVATE KEY-----\") but found "
                        "\"-----BEGIN CERTIFICATE-----\""));
}

TEST(PrivateKey, AcceptsTraditionalEcPemFromOpenSsl) {
  testing::CommandResult made =
      testing::RunCommand("openssl ecparam -genkey -name prime256v1 -noout");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  ASSERT_THAT(made.output, HasSubstr("-----BEGIN EC PRIVATE KEY-----"));
  Result<PrivateKey> key = PrivateKey::FromPem(made.output);
  ASSERT_TRUE(key.ok()) << key.status().message();
  EXPECT_EQ(key->type(), KeyType::kEcdsaP256);
  EXPECT_THAT(key->ToPem(), StartsWith("-----BEGIN PRIVATE KEY-----"));
}

TEST(PrivateKey, RefusesUnsupportedCurve) {
  testing::CommandResult made =
      testing::RunCommand("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  Result<PrivateKey> key = PrivateKey::FromPem(made.output);
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.status().message(), HasSubstr("unsupported EC curve"));
}

}  // namespace
}  // namespace topos::certs
