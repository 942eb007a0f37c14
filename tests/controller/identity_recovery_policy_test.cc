#include "controller/ca/identity_recovery_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <set>
#include <string>

#include "certs/certificate_authority.h"
#include "certs/signature.h"
#include "controller/ca/certificate_issuer.h"

namespace topos::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr char kHost[] = "web-1.example.test";

// An agent identity issued an hour's validity by a CA, and a fake clock set
// past its expiry; each test breaks one rule.
class IdentityRecoveryPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = certs::CertificateAuthority::Create("Recovery Test CA");
    ASSERT_TRUE(ca.ok());
    ca_.emplace(std::move(*ca));
    auto key = certs::PrivateKey::Generate();
    ASSERT_TRUE(key.ok());
    old_key_.emplace(std::move(*key));
    old_ = Issue(*old_key_, kHost, kAgentUnit);

    host_.fqdn = kHost;
    host_.certificate_serial = old_->serial_hex();
    facts_.roots = {ca_->certificate()};
    facts_.grace = hours(24 * 30);
    facts_.now = old_->not_after() + hours(24 * 3);
    facts_.find_host = [this](const std::string& fqdn) -> Result<HostRecord> {
      if (fqdn != host_.fqdn) return Status::NotFound("no host " + fqdn);
      return host_;
    };
    facts_.is_revoked = [this](const std::string& serial) { return revoked_.count(serial) > 0; };
  }

  certs::Certificate Issue(const certs::PrivateKey& key, const std::string& cn,
                           const std::string& unit, const certs::CertificateAuthority* ca = nullptr) {
    auto csr = certs::Csr::Create(key, cn, {cn});
    EXPECT_TRUE(csr.ok());
    certs::SigningPolicy policy;
    policy.common_name = cn;
    policy.organizational_unit = unit;
    policy.allowed_dns_names = {cn};
    policy.usage = certs::Usage::kClient;
    policy.validity = hours(1);
    auto certificate = (ca != nullptr ? *ca : *ca_).Sign(*csr, policy);
    EXPECT_TRUE(certificate.ok()) << certificate.status().message();
    return *certificate;
  }

  // A well-formed request: a new key's CSR for the host, signed by `signer`
  // (the old key unless given) at the fake clock's time.
  RecoveryRequest MakeRequest(const certs::Certificate& old, const certs::PrivateKey& signer,
                              const std::string& cn = kHost,
                              std::vector<std::string> dns = {kHost}) {
    auto fresh = certs::PrivateKey::Generate();
    EXPECT_TRUE(fresh.ok());
    auto csr = certs::Csr::Create(*fresh, cn, dns);
    EXPECT_TRUE(csr.ok());
    RecoveryRequest request;
    request.certificate_pem = old.ToPem();
    request.csr_pem = csr->ToPem();
    request.signed_at_unix =
        std::chrono::duration_cast<seconds>(facts_.now.time_since_epoch()).count();
    Resign(request, signer);
    return request;
  }
  RecoveryRequest MakeRequest() { return MakeRequest(*old_, *old_key_); }
  static void Resign(RecoveryRequest& request, const certs::PrivateKey& signer) {
    auto proof = certs::SignMessage(signer,
                                    RecoveryProofMessage(request.signed_at_unix, request.csr_pem));
    ASSERT_TRUE(proof.ok());
    request.proof = *proof;
  }

  Status Check(const RecoveryRequest& request) {
    auto grant = CheckIdentityRecovery(request, facts_);
    return grant.ok() ? Status::Ok() : grant.status();
  }

  std::optional<certs::CertificateAuthority> ca_;
  std::optional<certs::PrivateKey> old_key_;
  std::optional<certs::Certificate> old_;
  HostRecord host_;
  std::set<std::string> revoked_;
  RecoveryFacts facts_;
};

TEST_F(IdentityRecoveryPolicyTest, GrantsAnExpiredCurrentIdentityWithinGrace) {
  RecoveryRequest request = MakeRequest();
  auto grant = CheckIdentityRecovery(request, facts_);
  ASSERT_TRUE(grant.ok()) << grant.status().message();
  EXPECT_EQ(grant->host_fqdn, kHost);
  EXPECT_EQ(grant->old_serial, old_->serial_hex());
  EXPECT_EQ(grant->csr.common_name(), kHost);
  EXPECT_EQ(grant->csr.ToPem(), request.csr_pem);

  // Just expired and at the very end of the grace period both count.
  facts_.now = old_->not_after();
  EXPECT_TRUE(Check(MakeRequest()).ok());
  facts_.now = old_->not_after() + facts_.grace;
  EXPECT_TRUE(Check(MakeRequest()).ok());
}

TEST_F(IdentityRecoveryPolicyTest, RefusesAReplayOnceTheIdentityWasReissued) {
  RecoveryRequest request = MakeRequest();
  ASSERT_TRUE(Check(request).ok());
  host_.certificate_serial = "0123abcd";  // what RecordRenewal stores after the re-issue
  Status replay = Check(request);
  EXPECT_EQ(replay.code(), Status::Code::kPermissionDenied);
  EXPECT_THAT(replay.message(), HasSubstr("no longer the current identity"));
}

TEST_F(IdentityRecoveryPolicyTest, RefusesAnUnexpiredCertificate) {
  facts_.now = old_->not_after() - seconds(1);
  Status refused = Check(MakeRequest());
  EXPECT_EQ(refused.code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(refused.message(), StartsWith("not expired: renew over mutual TLS"));
}

TEST_F(IdentityRecoveryPolicyTest, RefusesPastTheGracePeriodTellingHowToReenroll) {
  facts_.now = old_->not_after() + facts_.grace + seconds(1);
  Status refused = Check(MakeRequest());
  EXPECT_EQ(refused.code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("expired on " + FormatUtc(old_->not_after())));
  EXPECT_THAT(refused.message(), HasSubstr("30 days ago, past the 30-day grace period"));
  EXPECT_THAT(refused.message(),
              HasSubstr("needs a new token (toposctl token create --host web-1.example.test)"));
  EXPECT_THAT(refused.message(), HasSubstr("topos-agent enroll"));
}

TEST_F(IdentityRecoveryPolicyTest, RefusesOversizedOrMissingFields) {
  RecoveryRequest big_cert = MakeRequest();
  big_cert.certificate_pem += std::string(kMaxRecoveryPemBytes, '\n');
  EXPECT_THAT(Check(big_cert).message(), HasSubstr("certificate_pem"));
  RecoveryRequest big_csr = MakeRequest();
  big_csr.csr_pem = std::string(kMaxRecoveryPemBytes + 1, 'x');
  EXPECT_THAT(Check(big_csr).message(), HasSubstr("csr_pem"));
  RecoveryRequest big_proof = MakeRequest();
  big_proof.proof = std::string(kMaxRecoveryProofBytes + 1, 'x');
  EXPECT_THAT(Check(big_proof).message(), HasSubstr("proof"));
  RecoveryRequest no_proof = MakeRequest();
  no_proof.proof.clear();
  EXPECT_EQ(Check(no_proof).code(), Status::Code::kInvalidArgument);
}

TEST_F(IdentityRecoveryPolicyTest, RefusesGarbageCertificate) {
  RecoveryRequest request = MakeRequest();
  request.certificate_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  Status refused = Check(request);
  EXPECT_EQ(refused.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("bad certificate"));
}

TEST_F(IdentityRecoveryPolicyTest, RefusesACertificateOfAnotherCa) {
  auto stranger = certs::CertificateAuthority::Create("Stranger CA");
  ASSERT_TRUE(stranger.ok());
  certs::Certificate foreign = Issue(*old_key_, kHost, kAgentUnit, &*stranger);
  host_.certificate_serial = foreign.serial_hex();
  Status refused = Check(MakeRequest(foreign, *old_key_));
  EXPECT_EQ(refused.code(), Status::Code::kPermissionDenied);
  EXPECT_THAT(refused.message(), HasSubstr("not issued by this controller"));
}

TEST_F(IdentityRecoveryPolicyTest, RefusesANonAgentCertificate) {
  certs::Certificate operator_cert = Issue(*old_key_, kHost, kOperatorUnit);
  host_.certificate_serial = operator_cert.serial_hex();
  Status refused = Check(MakeRequest(operator_cert, *old_key_));
  EXPECT_EQ(refused.code(), Status::Code::kPermissionDenied);
  EXPECT_THAT(refused.message(), HasSubstr("not an agent identity"));
}

TEST_F(IdentityRecoveryPolicyTest, RefusesAProofSignedLongBeforeOrAfterNow) {
  for (auto offset : {-minutes(6), minutes(6)}) {
    RecoveryRequest request = MakeRequest();
    request.signed_at_unix += std::chrono::duration_cast<seconds>(offset).count();
    Resign(request, *old_key_);
    Status refused = Check(request);
    EXPECT_EQ(refused.code(), Status::Code::kInvalidArgument);
    EXPECT_THAT(refused.message(), HasSubstr("more than 5 minutes apart"));
  }
  RecoveryRequest near = MakeRequest();
  near.signed_at_unix -= 4 * 60;
  Resign(near, *old_key_);
  EXPECT_TRUE(Check(near).ok());
}

TEST_F(IdentityRecoveryPolicyTest, RefusesAProofByAnotherKeyOrOverOtherBytes) {
  auto thief = certs::PrivateKey::Generate();
  ASSERT_TRUE(thief.ok());
  Status wrong_key = Check(MakeRequest(*old_, *thief));
  EXPECT_EQ(wrong_key.code(), Status::Code::kPermissionDenied);
  EXPECT_THAT(wrong_key.message(), HasSubstr("no proof of possession"));

  // The proof binds the time and the CSR: changing either breaks it.
  RecoveryRequest moved = MakeRequest();
  moved.signed_at_unix += 1;
  EXPECT_EQ(Check(moved).code(), Status::Code::kPermissionDenied);
  RecoveryRequest swapped = MakeRequest();
  swapped.csr_pem = MakeRequest().csr_pem;
  EXPECT_EQ(Check(swapped).code(), Status::Code::kPermissionDenied);
}

TEST_F(IdentityRecoveryPolicyTest, RefusesACsrForOtherNames) {
  Status other_cn = Check(MakeRequest(*old_, *old_key_, "web-2.example.test", {kHost}));
  EXPECT_EQ(other_cn.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(other_cn.message(), HasSubstr("web-2.example.test"));
  Status extra_dns = Check(MakeRequest(*old_, *old_key_, kHost, {kHost, "evil.example.test"}));
  EXPECT_EQ(extra_dns.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(extra_dns.message(), HasSubstr("evil.example.test"));
  RecoveryRequest garbage = MakeRequest();
  garbage.csr_pem = "not a csr";
  Resign(garbage, *old_key_);
  EXPECT_THAT(Check(garbage).message(), HasSubstr("bad CSR"));
}

TEST_F(IdentityRecoveryPolicyTest, RefusesAnUnknownOrRemovedHost) {
  host_.fqdn = "other.example.test";
  Status unknown = Check(MakeRequest());
  EXPECT_EQ(unknown.code(), Status::Code::kPermissionDenied);
  EXPECT_THAT(unknown.message(), HasSubstr("not enrolled"));

  host_.fqdn = kHost;
  host_.removed_at = facts_.now - hours(1);
  Status removed = Check(MakeRequest());
  EXPECT_EQ(removed.code(), Status::Code::kPermissionDenied);
  EXPECT_THAT(removed.message(), HasSubstr("was removed"));
}

TEST_F(IdentityRecoveryPolicyTest, RefusesARevokedCertificate) {
  revoked_.insert(old_->serial_hex());
  Status refused = Check(MakeRequest());
  EXPECT_EQ(refused.code(), Status::Code::kPermissionDenied);
  EXPECT_THAT(refused.message(), HasSubstr("revoked"));
}

TEST_F(IdentityRecoveryPolicyTest, RefusesACertificateThatIsNotTheCurrentOne) {
  host_.certificate_serial = "feed";
  Status refused = Check(MakeRequest());
  EXPECT_EQ(refused.code(), Status::Code::kPermissionDenied);
  EXPECT_THAT(refused.message(), HasSubstr("no longer the current identity"));
}

TEST(IdentityRecoveryProof, MessageIsTheDocumentedBytes) {
  EXPECT_EQ(RecoveryProofMessage(1790000000, "CSR\n"),
            "topos-recover-identity\n1790000000\nCSR\n");
  EXPECT_EQ(FormatUtc(std::chrono::system_clock::time_point(seconds(1790812800))),
            "2026-10-01T00:00:00Z");
}

}  // namespace
}  // namespace topos::controller
