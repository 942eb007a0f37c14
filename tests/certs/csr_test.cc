#include "certs/csr.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <string>
#include <vector>

#include "certs/certificate_authority.h"
#include "tests/certs/test_util.h"

namespace topos::certs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

TEST(Csr, RoundTripsThroughPem) {
  Result<PrivateKey> key = PrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  Result<Csr> csr = Csr::Create(*key, "agent-1", {"agent-1.example", "10-0-0-1.example"});
  ASSERT_TRUE(csr.ok()) << csr.status().message();
  EXPECT_THAT(csr->ToPem(), StartsWith("-----BEGIN CERTIFICATE REQUEST-----\n"));

  Result<Csr> parsed = Csr::FromPem(csr->ToPem());
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->common_name(), "agent-1");
  EXPECT_THAT(parsed->dns_names(), ElementsAre("agent-1.example", "10-0-0-1.example"));
  EXPECT_THAT(parsed->ip_addresses(), IsEmpty());
  EXPECT_EQ(parsed->PublicKeyPem(), key->PublicKeyPem());
  EXPECT_EQ(parsed->ToPem(), csr->ToPem());
}

// The request's SubjectPublicKeyInfo bytes are exactly the key's own
// encoding (Create sets EC keys by a shortcut, not OpenSSL's general path).
TEST(Csr, CarriesTheKeysSubjectPublicKeyInfoByteForByte) {
  for (KeyType type : {KeyType::kEcdsaP256, KeyType::kRsa3072}) {
    Result<PrivateKey> key = PrivateKey::Generate(type);
    ASSERT_TRUE(key.ok());
    Result<Csr> csr = Csr::Create(*key, "agent-1", {"agent-1.example"});
    ASSERT_TRUE(csr.ok()) << csr.status().message();
    unsigned char* in_request = nullptr;
    unsigned char* of_key = nullptr;
    const int request_length =
        i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(csr->native()), &in_request);
    const int key_length = i2d_PUBKEY(key->native(), &of_key);
    ASSERT_GT(request_length, 0);
    ASSERT_GT(key_length, 0);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(in_request), request_length),
              std::string(reinterpret_cast<char*>(of_key), key_length));
    OPENSSL_free(in_request);
    OPENSSL_free(of_key);
    // And the request verifies under the key it names.
    EXPECT_EQ(X509_REQ_verify(csr->native(), key->native()), 1);
  }
}

TEST(Csr, WorksWithRsaKeyAndNoNames) {
  Result<PrivateKey> key = PrivateKey::Generate(KeyType::kRsa3072);
  ASSERT_TRUE(key.ok());
  Result<Csr> csr = Csr::Create(*key, "rsa-host", {});
  ASSERT_TRUE(csr.ok()) << csr.status().message();
  Result<Csr> parsed = Csr::FromPem(csr->ToPem());
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_THAT(parsed->dns_names(), IsEmpty());
  EXPECT_EQ(parsed->PublicKeyPem(), key->PublicKeyPem());
}

TEST(Csr, OpenSslAcceptsOurCsr) {
  Result<PrivateKey> key = PrivateKey::Generate();
  Result<Csr> csr = Csr::Create(*key, "agent-1", {"agent-1.example"});
  ASSERT_TRUE(csr.ok());
  testing::TempDir dir;
  testing::CommandResult result = testing::RunCommand("openssl req -noout -verify -text -in " +
                                                      dir.Write("req.pem", csr->ToPem()));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("DNS:agent-1.example"));
}

TEST(Csr, RefusesTamperedSignature) {
  Result<PrivateKey> key = PrivateKey::Generate();
  Result<Csr> csr = Csr::Create(*key, "agent-1", {"agent-1.example"});
  ASSERT_TRUE(csr.ok());
  std::string der = testing::PemToDer(csr->ToPem());
  // The DER ends with the signature; its last byte is the low byte of the
  // ECDSA "s" value, so flipping it keeps the encoding valid but wrong.
  der.back() = static_cast<char>(der.back() ^ 0x01);
  Result<Csr> tampered = Csr::FromPem(testing::DerToPem("CERTIFICATE REQUEST", der));
  ASSERT_FALSE(tampered.ok());
  EXPECT_EQ(tampered.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(tampered.status().message(), HasSubstr("CSR signature does not verify"));
}

TEST(Csr, RefusesTamperedSubject) {
  Result<PrivateKey> key = PrivateKey::Generate();
  Result<Csr> csr = Csr::Create(*key, "agent-1", {});
  ASSERT_TRUE(csr.ok());
  std::string der = testing::PemToDer(csr->ToPem());
  std::size_t at = der.find("agent-1");
  ASSERT_NE(at, std::string::npos);
  der[at] = 'A';  // same length, so only the signature check can notice
  Result<Csr> tampered = Csr::FromPem(testing::DerToPem("CERTIFICATE REQUEST", der));
  ASSERT_FALSE(tampered.ok());
  EXPECT_THAT(tampered.status().message(), HasSubstr("CSR signature does not verify"));
}

TEST(Csr, RefusesBadNames) {
  Result<PrivateKey> key = PrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  struct Case {
    std::string common_name;
    std::vector<std::string> dns;
    std::string error;
  };
  const Case cases[] = {
      {"", {}, "common name is empty"},
      {std::string(65, 'c'), {}, "the limit is 64"},
      {"ok", {""}, "DNS name is empty"},
      {"ok", {std::string(254, 'a')}, "the limit is 253"},
      {"ok", {"bad\nname"}, "control character"},
      {"ok", {"caf\xc3\xa9.example"}, "punycode"},
  };
  for (const Case& c : cases) {
    Result<Csr> csr = Csr::Create(*key, c.common_name, c.dns);
    ASSERT_FALSE(csr.ok()) << c.error;
    EXPECT_EQ(csr.status().code(), Status::Code::kInvalidArgument);
    EXPECT_THAT(csr.status().message(), HasSubstr(c.error));
  }
}

TEST(Csr, RefusesBadPem) {
  Result<PrivateKey> key = PrivateKey::Generate();
  std::string good = Csr::Create(*key, "agent-1", {"a.example"})->ToPem();
  struct Case {
    std::string pem;
    std::string error;
  };
  const Case cases[] = {
      {"", "empty"},
      {std::string(65537, '-'), "PEM input is 65537 bytes; the limit is 65536"},
      {"garbage", "not PEM"},
      {good.substr(0, good.size() - 40), "could not be parsed"},
      {"-----BEGIN CERTIFICATE REQUEST-----\n%%%%^^^^\n-----END CERTIFICATE REQUEST-----\n",
       "could not be parsed"},
      {"-----BEGIN CERTIFICATE REQUEST-----\nMIIBAAAA\n-----END CERTIFICATE REQUEST-----\n",
       "could not be parsed"},
      {key->ToPem(), "but found \"-----BEGIN PRIVATE KEY-----\""},
      {good + good, "expected exactly one"},
  };
  for (const Case& c : cases) {
    Result<Csr> csr = Csr::FromPem(c.pem);
    ASSERT_FALSE(csr.ok()) << c.pem.substr(0, 80);
    EXPECT_EQ(csr.status().code(), Status::Code::kInvalidArgument);
    EXPECT_THAT(csr.status().message(), HasSubstr(c.error)) << c.pem.substr(0, 80);
  }
  EXPECT_TRUE(Csr::FromPem(good).ok());
}

TEST(Csr, ReadsIpAddressesFromOpenSslCsr) {
  Result<PrivateKey> key = PrivateKey::Generate();
  testing::TempDir dir;
  testing::CommandResult made = testing::RunCommand(
      "openssl req -new -key " + dir.Write("key.pem", key->ToPem()) +
      " -subj /CN=db-1 -addext subjectAltName=DNS:db-1.example,IP:10.0.0.7,IP:fd00::0:1");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  Result<Csr> csr = Csr::FromPem(made.output);
  ASSERT_TRUE(csr.ok()) << csr.status().message();
  EXPECT_EQ(csr->common_name(), "db-1");
  EXPECT_THAT(csr->dns_names(), ElementsAre("db-1.example"));
  EXPECT_THAT(csr->ip_addresses(), ElementsAre("10.0.0.7", "fd00::1"));
}

}  // namespace
}  // namespace topos::certs
