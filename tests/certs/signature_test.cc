#include "certs/signature.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "certs/certificate_authority.h"
#include "tests/certs/test_util.h"

namespace topos::certs {
namespace {

using ::testing::HasSubstr;

using testing::IssueAgentCertificate;

class SignatureTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(SignatureTest, VerifiesWithTheMatchingCertificateOnly) {
  auto ca = CertificateAuthority::Create("Signature Test CA");
  ASSERT_TRUE(ca.ok());
  auto key = PrivateKey::Generate(GetParam());
  auto other_key = PrivateKey::Generate(GetParam());
  ASSERT_TRUE(key.ok() && other_key.ok());
  Certificate mine = IssueAgentCertificate(*ca, *key);
  Certificate other = IssueAgentCertificate(*ca, *other_key);

  auto signature = SignMessage(*key, "topos-recover-identity\n123\ncsr");
  ASSERT_TRUE(signature.ok()) << signature.status().message();
  EXPECT_LE(signature->size(), kMaxSignatureBytes);
  EXPECT_TRUE(VerifyMessageSignature(mine, "topos-recover-identity\n123\ncsr", *signature).ok());

  // Another message, another key, a damaged signature: all refused.
  Status changed = VerifyMessageSignature(mine, "topos-recover-identity\n124\ncsr", *signature);
  EXPECT_EQ(changed.code(), Status::Code::kUnauthenticated);
  EXPECT_THAT(changed.message(), HasSubstr(mine.serial_hex()));
  EXPECT_FALSE(VerifyMessageSignature(other, "topos-recover-identity\n123\ncsr", *signature).ok());
  std::string damaged = *signature;
  damaged[damaged.size() / 2] ^= 0x01;
  EXPECT_FALSE(VerifyMessageSignature(mine, "topos-recover-identity\n123\ncsr", damaged).ok());
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, SignatureTest,
                         ::testing::Values(KeyType::kEcdsaP256, KeyType::kRsa3072));

TEST(Signature, RefusesEmptyAndOversizedSignatures) {
  auto ca = CertificateAuthority::Create("Signature Test CA");
  auto key = PrivateKey::Generate();
  ASSERT_TRUE(ca.ok() && key.ok());
  Certificate mine = IssueAgentCertificate(*ca, *key);
  EXPECT_EQ(VerifyMessageSignature(mine, "m", "").code(), Status::Code::kUnauthenticated);
  EXPECT_EQ(VerifyMessageSignature(mine, "m", std::string(kMaxSignatureBytes + 1, 'x')).code(),
            Status::Code::kUnauthenticated);
  EXPECT_EQ(VerifyMessageSignature(mine, "m", "not a DER signature").code(),
            Status::Code::kUnauthenticated);
}

TEST(VerifyChainIgnoringTime, AcceptsAnExpiredCertificateOfOurCaOnly) {
  auto ca = CertificateAuthority::Create("Signature Test CA");
  auto stranger = CertificateAuthority::Create("Stranger CA");
  auto key = PrivateKey::Generate();
  ASSERT_TRUE(ca.ok() && stranger.ok() && key.ok());
  Certificate mine = IssueAgentCertificate(*ca, *key);
  auto later = mine.not_after() + std::chrono::hours(24 * 40);

  // VerifyChain at a time past expiry refuses; the time-blind variant does not.
  Status expired = VerifyChain(mine, {ca->certificate()}, {}, Usage::kClient, later);
  EXPECT_FALSE(expired.ok());
  EXPECT_THAT(expired.message(), HasSubstr("expired"));
  EXPECT_TRUE(VerifyChainIgnoringTime(mine, {ca->certificate()}, {}, Usage::kClient).ok());

  // Still checks the issuer and the usage.
  EXPECT_FALSE(VerifyChainIgnoringTime(mine, {stranger->certificate()}, {}, Usage::kClient).ok());
  EXPECT_FALSE(VerifyChainIgnoringTime(mine, {ca->certificate()}, {}, Usage::kServer).ok());
  EXPECT_FALSE(VerifyChainIgnoringTime(mine, {}, {}, Usage::kClient).ok());
}

}  // namespace
}  // namespace topos::certs
