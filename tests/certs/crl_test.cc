// SignCrl / ParseCrl / VerifyCrl: what we sign reads back, verifies with its
// CA only, and verifies with the real `openssl crl -CAfile` as a relying
// party would; bad serials and bad input are refused.
#include "certs/crl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/certs/test_util.h"

namespace topos::certs {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using std::chrono::system_clock;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kOpenssl[] = "/usr/bin/openssl";

// Whole seconds: CRL times have no fractions.
const system_clock::time_point kNow =
    system_clock::from_time_t(system_clock::to_time_t(system_clock::now()));

CertificateAuthority NewCa(const std::string& name = "Test Root CA",
                           KeyType type = KeyType::kEcdsaP256) {
  Result<CertificateAuthority> ca = CertificateAuthority::Create(name, type);
  EXPECT_TRUE(ca.ok()) << ca.status().message();
  return std::move(ca).value();
}

std::string MustSign(const CertificateAuthority& ca, const std::vector<RevokedEntry>& revoked,
                     std::uint64_t number = 1) {
  Result<std::string> pem = SignCrl(ca, revoked, kNow, kNow + hours(24 * 7), number);
  EXPECT_TRUE(pem.ok()) << pem.status().message();
  return pem.ok() ? *pem : std::string();
}

std::vector<std::string> Serials(const CrlInfo& info) {
  std::vector<std::string> serials;
  for (const auto& entry : info.revoked) serials.push_back(entry.serial_hex);
  return serials;
}

TEST(Crl, SignedCrlReadsBackWithDatesNumberAndEntries) {
  CertificateAuthority ca = NewCa();
  const std::vector<RevokedEntry> revoked = {
      {"5d5c3f6493ecef06871d06487aa482ab", kNow - hours(2)},
      {"01", kNow - hours(30)},
      {"4A00000000000000000000000000000F", kNow - seconds(1)},  // upper case accepted
  };
  std::string pem = MustSign(ca, revoked, 42);
  EXPECT_THAT(pem, HasSubstr("-----BEGIN X509 CRL-----"));

  Result<CrlInfo> info = ParseCrl(pem);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->issuer_common_name, "Test Root CA");
  EXPECT_EQ(info->this_update, kNow);
  EXPECT_EQ(info->next_update, kNow + hours(24 * 7));
  EXPECT_EQ(info->number, 42u);
  // Sorted by serial, each with its own revocation date; hex lower case.
  EXPECT_THAT(Serials(*info), ElementsAre("01", "4a00000000000000000000000000000f",
                                          "5d5c3f6493ecef06871d06487aa482ab"));
  EXPECT_EQ(info->revoked[0].revoked_at, kNow - hours(30));
  EXPECT_EQ(info->revoked[1].revoked_at, kNow - seconds(1));
  EXPECT_EQ(info->revoked[2].revoked_at, kNow - hours(2));
}

TEST(Crl, EmptyCrlIsValid) {
  CertificateAuthority ca = NewCa();
  std::string pem = MustSign(ca, {}, 1);
  Result<CrlInfo> info = ParseCrl(pem);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_THAT(info->revoked, IsEmpty());
  EXPECT_EQ(info->number, 1u);
  EXPECT_TRUE(VerifyCrl(pem, ca.certificate()).ok());
}

TEST(Crl, VerifiesWithItsCaOnly) {
  CertificateAuthority ca = NewCa();
  std::string pem = MustSign(ca, {{"0a", kNow}});
  Status ok = VerifyCrl(pem, ca.certificate());
  EXPECT_TRUE(ok.ok()) << ok.message();

  CertificateAuthority other = NewCa("Other CA");
  Status wrong_issuer = VerifyCrl(pem, other.certificate());
  EXPECT_EQ(wrong_issuer.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(wrong_issuer.message(), HasSubstr("Other CA"));

  // Same name, different key: only the signature can tell.
  CertificateAuthority impostor = NewCa("Test Root CA");
  Status bad_signature = VerifyCrl(pem, impostor.certificate());
  EXPECT_EQ(bad_signature.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(bad_signature.message(), HasSubstr("signature"));
}

TEST(Crl, RsaCaSignsToo) {
  CertificateAuthority ca = NewCa("RSA CA", KeyType::kRsa3072);
  std::string pem = MustSign(ca, {{"7f", kNow}});
  EXPECT_TRUE(VerifyCrl(pem, ca.certificate()).ok());
}

TEST(Crl, TamperedCrlDoesNotVerify) {
  CertificateAuthority ca = NewCa();
  std::string pem = MustSign(ca, {{"5d5c3f6493ecef06871d06487aa482ab", kNow}});
  std::string der = testing::PemToDer(pem);
  std::size_t at = der.find("\x5d\x5c\x3f\x64");  // the entry's serial
  ASSERT_NE(at, std::string::npos);
  der[at] = '\x5e';
  std::string tampered = testing::DerToPem("X509 CRL", der);
  Result<CrlInfo> info = ParseCrl(tampered);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_THAT(Serials(*info), ElementsAre("5e5c3f6493ecef06871d06487aa482ab"));
  Status status = VerifyCrl(tampered, ca.certificate());
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
}

TEST(Crl, RefusesSerialsThatAreNotHex) {
  CertificateAuthority ca = NewCa();
  for (const std::string& bad : {std::string("xyz"), std::string(""), std::string("-01"),
                                 std::string("0x1f"), std::string(41, 'a')}) {
    Result<std::string> pem = SignCrl(ca, {{"01", kNow}, {bad, kNow}}, kNow, kNow + hours(1), 1);
    ASSERT_FALSE(pem.ok()) << bad;
    EXPECT_EQ(pem.status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_THAT(pem.status().message(), HasSubstr("\"" + bad.substr(0, 64) + "\"")) << bad;
  }
  // 40 digits (20 octets) is the most RFC 5280 allows, and is fine.
  EXPECT_TRUE(SignCrl(ca, {{std::string(40, '7'), kNow}}, kNow, kNow + hours(1), 1).ok());
}

TEST(Crl, RefusesNextUpdateNotAfterThisUpdate) {
  CertificateAuthority ca = NewCa();
  EXPECT_EQ(SignCrl(ca, {}, kNow, kNow, 1).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(SignCrl(ca, {}, kNow, kNow - hours(1), 1).status().code(),
            Status::Code::kInvalidArgument);
}

TEST(Crl, ParseRefusesWhatIsNotACrl) {
  CertificateAuthority ca = NewCa();
  EXPECT_EQ(ParseCrl("").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ParseCrl("hello").status().code(), Status::Code::kInvalidArgument);
  Result<CrlInfo> cert = ParseCrl(ca.certificate().ToPem());
  EXPECT_EQ(cert.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(cert.status().message(), HasSubstr("BEGIN X509 CRL"));
  std::string pem = MustSign(ca, {{"01", kNow}});
  std::string truncated = pem.substr(0, pem.size() / 2) + "\n-----END X509 CRL-----\n";
  EXPECT_EQ(ParseCrl(truncated).status().code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(VerifyCrl(truncated, ca.certificate()).ok());
  EXPECT_EQ(ParseCrl(std::string(kMaxCrlPemBytes + 1, 'a')).status().code(),
            Status::Code::kInvalidArgument);
}

TEST(Crl, OpensslCrlVerifiesItWithTheCaFile) {
  if (!std::filesystem::exists(kOpenssl)) GTEST_SKIP() << kOpenssl << " is not installed";
  CertificateAuthority ca = NewCa();
  testing::TempDir dir;
  std::string crl_file = dir.Write(
      "crl.pem", MustSign(ca, {{"5d5c3f6493ecef06871d06487aa482ab", kNow - hours(1)}}, 9));
  std::string ca_file = dir.Write("ca.pem", ca.certificate().ToPem());

  testing::CommandResult verify = testing::RunCommand(std::string(kOpenssl) + " crl -in " +
                                                      crl_file + " -CAfile " + ca_file + " -noout");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr("verify OK"));

  testing::CommandResult text =
      testing::RunCommand(std::string(kOpenssl) + " crl -in " + crl_file + " -noout -text");
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("Version 2"));
  EXPECT_THAT(text.output, HasSubstr("X509v3 CRL Number"));
  EXPECT_THAT(text.output, HasSubstr("X509v3 Authority Key Identifier"));
  EXPECT_THAT(text.output, HasSubstr("5D5C3F6493ECEF06871D06487AA482AB"));
  EXPECT_THAT(text.output, HasSubstr("with-SHA256"));

  CertificateAuthority other = NewCa("Test Root CA");  // same name, other key
  std::string other_file = dir.Write("other.pem", other.certificate().ToPem());
  testing::CommandResult refused = testing::RunCommand(
      std::string(kOpenssl) + " crl -in " + crl_file + " -CAfile " + other_file + " -noout");
  EXPECT_THAT(refused.output, Not(HasSubstr("verify OK")));
  EXPECT_THAT(refused.output, HasSubstr("verify failure"));
}

}  // namespace
}  // namespace topos::certs
