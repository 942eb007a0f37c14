// The caller-certificate cache returns what a fresh parse would, for the
// exact bytes it parsed, and stays within its bound.
#include "controller/api/caller_certificate_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>

#include "certs/certificate_authority.h"
#include "certs/csr.h"
#include "certs/private_key.h"

namespace topos::controller {
namespace {

class CallerCertificateCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = certs::CertificateAuthority::Create("Cache Test CA");
    ASSERT_TRUE(ca.ok());
    ca_.emplace(std::move(*ca));
  }

  certs::Certificate Issue(const std::string& cn, const std::string& unit) {
    auto key = certs::PrivateKey::Generate();
    EXPECT_TRUE(key.ok());
    auto csr = certs::Csr::Create(*key, cn, {cn});
    EXPECT_TRUE(csr.ok());
    certs::SigningPolicy policy;
    policy.common_name = cn;
    policy.organizational_unit = unit;
    policy.allowed_dns_names = {cn};
    policy.usage = certs::Usage::kClient;
    policy.validity = std::chrono::hours(1);
    auto certificate = ca_->Sign(*csr, policy);
    EXPECT_TRUE(certificate.ok()) << certificate.status().message();
    return *certificate;
  }

  static void ExpectFieldsOf(const Result<CallerCertificate>& cached,
                             const certs::Certificate& certificate) {
    ASSERT_TRUE(cached.ok()) << cached.status().message();
    EXPECT_EQ(cached->common_name, certificate.common_name());
    EXPECT_EQ(cached->organizational_unit, certificate.organizational_unit());
    EXPECT_EQ(cached->serial_hex, certificate.serial_hex());
    EXPECT_EQ(cached->not_after, certificate.not_after());
  }

  std::optional<certs::CertificateAuthority> ca_;
};

TEST_F(CallerCertificateCacheTest, ReturnsTheFieldsOfEachCertificateFirstAndSecondTime) {
  CallerCertificateCache cache(16);
  certs::Certificate agent = Issue("web-1.example.test", "agent");
  certs::Certificate admin = Issue("alice", "operator");

  ExpectFieldsOf(cache.Lookup(agent.ToPem()), agent);
  ExpectFieldsOf(cache.Lookup(admin.ToPem()), admin);
  EXPECT_EQ(cache.size(), 2u);
  // From the cache now: still each certificate's own fields.
  ExpectFieldsOf(cache.Lookup(agent.ToPem()), agent);
  ExpectFieldsOf(cache.Lookup(admin.ToPem()), admin);
  EXPECT_EQ(cache.size(), 2u);
}

TEST_F(CallerCertificateCacheTest, RefusesAnUnreadableCertificateAndDoesNotRememberIt) {
  CallerCertificateCache cache(16);
  auto garbage = cache.Lookup("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(cache.Lookup("").ok());
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(CallerCertificateCacheTest, TwoCertificatesOfOneHostKeepTheirOwnSerials) {
  // A host's old (perhaps revoked) and new certificates share every name;
  // each must still be answered with its own serial, or a revocation check
  // on the cached fields would look at the wrong one.
  CallerCertificateCache cache(16);
  certs::Certificate old_identity = Issue("web-1.example.test", "agent");
  certs::Certificate new_identity = Issue("web-1.example.test", "agent");
  ASSERT_NE(old_identity.serial_hex(), new_identity.serial_hex());
  ExpectFieldsOf(cache.Lookup(old_identity.ToPem()), old_identity);
  ExpectFieldsOf(cache.Lookup(new_identity.ToPem()), new_identity);
  ExpectFieldsOf(cache.Lookup(old_identity.ToPem()), old_identity);
  EXPECT_EQ(cache.size(), 2u);
}

TEST_F(CallerCertificateCacheTest, HoldsNoMoreThanItsCapacity) {
  CallerCertificateCache cache(3);
  std::vector<certs::Certificate> agents;
  for (int i = 0; i < 7; ++i) agents.push_back(Issue("h" + std::to_string(i) + ".test", "agent"));
  for (const auto& agent : agents) {
    ExpectFieldsOf(cache.Lookup(agent.ToPem()), agent);
    EXPECT_LE(cache.size(), 3u);
  }
  // Evicted ones are parsed again, correctly.
  ExpectFieldsOf(cache.Lookup(agents.front().ToPem()), agents.front());
}

}  // namespace
}  // namespace topos::controller
