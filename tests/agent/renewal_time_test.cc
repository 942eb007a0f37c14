// When the link renews its identity: two thirds of the lifetime, less a
// jitter drawn once per link.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <set>

#include "agent/link/identity_recovery.h"
#include "certs/certificate.h"
#include "certs/certificate_authority.h"

namespace topos::agent {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using TimePoint = std::chrono::system_clock::time_point;

const TimePoint kNotBefore = TimePoint(seconds(1'790'000'000));
const TimePoint kNotAfter = kNotBefore + hours(24 * 30);  // 30 days: 2/3 is day 20

TEST(RenewalTime, WithoutJitterIsTwoThirdsOfTheLifetime) {
  EXPECT_EQ(RenewalTime(kNotBefore, kNotAfter, 2.0 / 3.0, 0.0), kNotBefore + hours(24 * 20));
}

TEST(RenewalTime, JitterMovesItEarlierByThatFractionOfTheLifetime) {
  // u = 0.1 of 30 days = 3 days earlier.
  auto at = RenewalTime(kNotBefore, kNotAfter, 2.0 / 3.0, 0.1);
  EXPECT_NEAR(std::chrono::duration<double>(at - kNotBefore).count(),
              std::chrono::duration<double>(hours(24 * 17)).count(), 1.0);
  // Just under the largest default jitter stays after 2/3 - 0.1.
  auto edge = RenewalTime(kNotBefore, kNotAfter, 2.0 / 3.0, 0.0999999);
  EXPECT_GT(edge, at);
  EXPECT_LT(edge, kNotBefore + hours(24 * 20));
}

TEST(RenewalTime, ClampsJitterToTheValidityWindow) {
  // A negative jitter never delays past the renew fraction...
  EXPECT_EQ(RenewalTime(kNotBefore, kNotAfter, 2.0 / 3.0, -0.5), kNotBefore + hours(24 * 20));
  // ...and a jitter beyond it never renews before the certificate starts.
  EXPECT_EQ(RenewalTime(kNotBefore, kNotAfter, 2.0 / 3.0, 5.0), kNotBefore);
  EXPECT_EQ(RenewalTime(kNotBefore, kNotAfter, 2.0 / 3.0, 2.0 / 3.0), kNotBefore);
}

TEST(RenewalTime, WorksForShortLifetimes) {
  TimePoint not_after = kNotBefore + seconds(3);
  EXPECT_EQ(RenewalTime(kNotBefore, not_after, 2.0 / 3.0, 0.0), kNotBefore + seconds(2));
  EXPECT_EQ(RenewalTime(kNotBefore, kNotBefore, 2.0 / 3.0, 0.05), kNotBefore);
}

TEST(DrawRenewJitter, IsZeroWhenDisabled) {
  std::mt19937_64 random(1);
  EXPECT_EQ(DrawRenewJitter(0.0, random), 0.0);
  EXPECT_EQ(DrawRenewJitter(-0.2, random), 0.0);
}

TEST(DrawRenewJitter, IsUniformInTheHalfOpenRange) {
  std::mt19937_64 random(42);
  std::set<double> seen;
  double sum = 0, lowest = 1, highest = 0;
  constexpr int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) {
    double u = DrawRenewJitter(0.1, random);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 0.1);
    seen.insert(u);
    sum += u;
    lowest = std::min(lowest, u);
    highest = std::max(highest, u);
  }
  // Spread over the whole range, not a constant: a fleet's renewals spread out.
  EXPECT_GT(seen.size(), kDraws * 0.99);
  EXPECT_NEAR(sum / kDraws, 0.05, 0.002);
  EXPECT_LT(lowest, 0.001);
  EXPECT_GT(highest, 0.099);
}

TEST(IdentityValidity, TreatsAnUnreadableCertificateAsExpired) {
  EXPECT_TRUE(IdentityValidity::Of("not a certificate").ExpiredAt(std::chrono::system_clock::now()));
  IdentityValidity unreadable = IdentityValidity::Of("not a certificate");
  EXPECT_FALSE(unreadable.readable);
  EXPECT_TRUE(unreadable.ExpiredAt(TimePoint{}));
}

// The link parses its certificate once and asks the parsed window on every
// reconnect and heartbeat: it must say what the certificate says.
TEST(IdentityValidity, HoldsTheCertificatesWindowAndExpiresAtItsEnd) {
  auto ca = certs::CertificateAuthority::Create("validity test", certs::KeyType::kEcdsaP256,
                                                hours(24));
  ASSERT_TRUE(ca.ok()) << ca.status().message();
  const certs::Certificate& certificate = ca->certificate();
  IdentityValidity validity = IdentityValidity::Of(certificate.ToPem());
  ASSERT_TRUE(validity.readable);
  EXPECT_EQ(validity.not_before, certificate.not_before());
  EXPECT_EQ(validity.not_after, certificate.not_after());
  EXPECT_FALSE(validity.ExpiredAt(certificate.not_after() - seconds(1)));
  EXPECT_TRUE(validity.ExpiredAt(certificate.not_after()));
}

TEST(RecoveryProofText, IsTheDocumentedBytes) {
  EXPECT_EQ(RecoveryProofText(1790000000, "CSR\n"), "topos-recover-identity\n1790000000\nCSR\n");
}

}  // namespace
}  // namespace topos::agent
