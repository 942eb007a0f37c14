// SqliteStore: listing certificates, revoking them one by one or per host
// (identity and service certificates alike), RemoveHost's revocations, and
// migration 5 applied to a version 4 database.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "controller/store/migrations.h"
#include "controller/store/sqlite_store.h"
#include "tests/support/temp_dir.h"

namespace topos {
namespace {

namespace tc = topos::controller;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Stored times have seconds precision, so tests use whole seconds.
// kT0 is 2023-11-14T22:13:20Z.
const tc::TimePoint kT0{std::chrono::seconds(1'700'000'000)};
tc::TimePoint At(int seconds_after_t0) { return kT0 + std::chrono::seconds(seconds_after_t0); }

tc::CertificateRecord MakeCertificate(
    const std::string& serial, const std::string& subject,
    tc::CertificatePurpose purpose = tc::CertificatePurpose::kAgentIdentity) {
  tc::CertificateRecord certificate;
  certificate.serial = serial;
  certificate.subject = subject;
  certificate.purpose = purpose;
  certificate.fingerprint = "fp-" + serial;
  certificate.issued_at = At(0);
  certificate.not_after = At(86400);
  certificate.pem = "-----BEGIN CERTIFICATE-----\n" + serial + "\n-----END CERTIFICATE-----\n";
  return certificate;
}

// An issued request when `serial` is set, else a pending one (or `state`).
tc::CertificateRequestRecord MakeRequest(
    const std::string& id, const std::string& fqdn, const std::string& serial,
    tc::CertificateRequestState state = tc::CertificateRequestState::kIssued) {
  tc::CertificateRequestRecord request;
  request.id = id;
  request.host_fqdn = fqdn;
  request.service = "web";
  request.names = {"www.example.com", fqdn};
  request.csr_pem = "csr-" + id;
  request.state = state;
  request.requested_at = At(30);
  if (state != tc::CertificateRequestState::kPending) {
    request.decided_at = At(31);
    request.decided_by = "policy";
  }
  if (state == tc::CertificateRequestState::kIssued) {
    request.serial = serial;
    request.not_after = At(90000);
    request.certificate_pem = "pem-" + serial;
  }
  return request;
}

class SqliteStoreRevocation : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() / "state.db";
  }


  void OpenStore() {
    store_.reset();
    Result<std::unique_ptr<tc::SqliteStore>> store = tc::SqliteStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
  }

  // Enrolls `fqdn` with a fresh token and identity certificate `serial`.
  void Enroll(const std::string& fqdn, const std::string& serial) {
    tc::TokenRecord token;
    token.id = "token-" + serial;
    token.secret_hash = "hash";
    token.host_fqdn = fqdn;
    token.created_at = At(0);
    token.expires_at = At(3600);
    token.created_by = "alice";
    ASSERT_TRUE(store_->InsertToken(token).ok());
    tc::HostRecord host;
    host.fqdn = fqdn;
    Status status =
        store_->CompleteEnrollment(token.id, host, MakeCertificate(serial, fqdn), At(10));
    ASSERT_TRUE(status.ok()) << status.message();
  }

  void InsertRequest(const tc::CertificateRequestRecord& request) {
    Status status = store_->InsertCertificateRequest(request);
    ASSERT_TRUE(status.ok()) << status.message();
  }

  // web1 (identity 01, renewed to 02, issued service certificates s1 and s2,
  // a pending and a denied request), an operator certificate 04 named like
  // web1, and web2 (identity 03, issued service certificate s3).
  void EnrollTwoHosts() {
    Enroll("web1.example.com", "01");
    ASSERT_TRUE(
        store_->RecordRenewal("web1.example.com", MakeCertificate("02", "web1.example.com")).ok());
    Enroll("web2.example.com", "03");
    ASSERT_TRUE(store_
                    ->InsertCertificate(MakeCertificate("04", "web1.example.com",
                                                        tc::CertificatePurpose::kOperator))
                    .ok());
    InsertRequest(MakeRequest("r1", "web1.example.com", "s1"));
    InsertRequest(MakeRequest("r2", "web1.example.com", "s2"));
    InsertRequest(
        MakeRequest("r-pending", "web1.example.com", "", tc::CertificateRequestState::kPending));
    InsertRequest(
        MakeRequest("r-denied", "web1.example.com", "", tc::CertificateRequestState::kDenied));
    InsertRequest(MakeRequest("r3", "web2.example.com", "s3"));
  }

  bool CertificateRevoked(const std::string& serial) {
    Result<tc::CertificateRecord> certificate = store_->GetCertificate(serial);
    EXPECT_TRUE(certificate.ok()) << certificate.status().message();
    return certificate.ok() && certificate->revoked_at.has_value();
  }

  bool RequestRevoked(const std::string& id) {
    Result<tc::CertificateRequestRecord> request = store_->GetCertificateRequest(id);
    EXPECT_TRUE(request.ok()) << request.status().message();
    return request.ok() && request->revoked_at.has_value();
  }

  test_support::TempDir dir_{"topos-store-test"};  // outlives store_
  std::filesystem::path path_;
  std::unique_ptr<tc::SqliteStore> store_;
};

// The request listing's filters, alone and together (the certificate
// service asks for one host's pending requests).
TEST_F(SqliteStoreRevocation, ListsRequestsByHostAndState) {
  OpenStore();
  EnrollTwoHosts();
  auto ids = [&](bool pending_only, const std::string& host) {
    Result<std::vector<tc::CertificateRequestRecord>> listed =
        store_->ListCertificateRequests(pending_only, host);
    EXPECT_TRUE(listed.ok()) << listed.status().message();
    std::set<std::string> found;
    if (listed.ok()) {
      for (const auto& request : *listed) found.insert(request.id);
    }
    return found;
  };
  EXPECT_EQ(ids(false, ""), (std::set<std::string>{"r1", "r2", "r-pending", "r-denied", "r3"}));
  EXPECT_EQ(ids(true, ""), (std::set<std::string>{"r-pending"}));
  EXPECT_EQ(ids(false, "web2.example.com"), (std::set<std::string>{"r3"}));
  EXPECT_EQ(ids(true, "web1.example.com"), (std::set<std::string>{"r-pending"}));
  EXPECT_TRUE(ids(true, "web2.example.com").empty());
  EXPECT_TRUE(ids(false, "nobody.example.com").empty());
}

TEST_F(SqliteStoreRevocation, RevokesAnIdentityCertificateBySerial) {
  OpenStore();
  Enroll("web1.example.com", "01");
  Enroll("web2.example.com", "02");

  Status status = store_->RevokeCertificate("01", At(20), "key compromised");
  ASSERT_TRUE(status.ok()) << status.message();

  Result<tc::CertificateRecord> certificate = store_->GetCertificate("01");
  ASSERT_TRUE(certificate.ok());
  EXPECT_EQ(certificate->revoked_at, At(20));
  EXPECT_EQ(certificate->revoke_reason, "key compromised");
  EXPECT_FALSE(CertificateRevoked("02"));
  EXPECT_THAT(*store_->ListRevokedSerials(), ElementsAre("01"));
  // Revoking a certificate does not remove its host.
  EXPECT_FALSE(store_->GetHost("web1.example.com")->removed_at.has_value());
}

TEST_F(SqliteStoreRevocation, RevokesAServiceCertificateBySerial) {
  OpenStore();
  EnrollTwoHosts();

  Status status = store_->RevokeCertificate("s1", At(40), "service retired");
  ASSERT_TRUE(status.ok()) << status.message();

  EXPECT_THAT(*store_->ListRevokedSerials(), ElementsAre("s1"));
  Result<tc::CertificateRequestRecord> request = store_->GetCertificateRequest("r1");
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->revoked_at, At(40));
  EXPECT_EQ(request->revoke_reason, "service retired");
  // The rest of the record is unchanged.
  EXPECT_EQ(request->state, tc::CertificateRequestState::kIssued);
  EXPECT_EQ(request->serial, "s1");
  EXPECT_EQ(request->certificate_pem, "pem-s1");
  EXPECT_EQ(request->not_after, At(90000));

  // Listing shows the same; other requests and certificates stay valid.
  Result<std::vector<tc::CertificateRequestRecord>> listed =
      store_->ListCertificateRequests(false, "web1.example.com");
  ASSERT_TRUE(listed.ok());
  for (const tc::CertificateRequestRecord& listed_request : *listed) {
    EXPECT_EQ(listed_request.revoked_at.has_value(), listed_request.id == "r1")
        << listed_request.id;
    if (listed_request.id == "r1") {
      EXPECT_EQ(listed_request.revoke_reason, "service retired");
    }
  }
  EXPECT_FALSE(RequestRevoked("r2"));
  EXPECT_FALSE(CertificateRevoked("01"));
}

TEST_F(SqliteStoreRevocation, UnknownSerialIsNotFound) {
  OpenStore();
  EnrollTwoHosts();

  Status unknown = store_->RevokeCertificate("ff", At(40), "x");
  EXPECT_EQ(unknown.code(), Status::Code::kNotFound);
  EXPECT_EQ(unknown.message(), "certificate \"ff\" not found");
  // Pending and denied requests have no serial: the empty one matches nothing.
  EXPECT_EQ(store_->RevokeCertificate("", At(40), "x").code(), Status::Code::kNotFound);
  EXPECT_FALSE(RequestRevoked("r-pending"));
  EXPECT_FALSE(RequestRevoked("r-denied"));
  EXPECT_THAT(*store_->ListRevokedSerials(), IsEmpty());
}

TEST_F(SqliteStoreRevocation, RevokingTwiceIsFailedPreconditionAndKeepsTheFirstRevocation) {
  OpenStore();
  EnrollTwoHosts();
  ASSERT_TRUE(store_->RevokeCertificate("01", At(20), "key compromised").ok());
  ASSERT_TRUE(store_->RevokeCertificate("s1", At(20), "").ok());

  Status identity = store_->RevokeCertificate("01", At(60), "again");
  EXPECT_EQ(identity.code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(identity.message(),
            "certificate 01 is already revoked (at 2023-11-14T22:13:40Z: key compromised)");
  Status service = store_->RevokeCertificate("s1", At(60), "again");
  EXPECT_EQ(service.code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(service.message(), "certificate s1 is already revoked (at 2023-11-14T22:13:40Z)");

  EXPECT_EQ(store_->GetCertificate("01")->revoked_at, At(20));
  EXPECT_EQ(store_->GetCertificate("01")->revoke_reason, "key compromised");
  EXPECT_EQ(store_->GetCertificateRequest("r1")->revoked_at, At(20));
  EXPECT_EQ(store_->GetCertificateRequest("r1")->revoke_reason, "");
}

TEST_F(SqliteStoreRevocation, RevokeHostCertificatesRevokesOnlyThatHostsCertificates) {
  OpenStore();
  EnrollTwoHosts();
  // Already revoked: kept as it was and not returned again.
  ASSERT_TRUE(store_->RevokeCertificate("s2", At(20), "earlier").ok());

  Result<std::vector<std::string>> revoked =
      store_->RevokeHostCertificates("web1.example.com", At(50), "host compromised");
  ASSERT_TRUE(revoked.ok()) << revoked.status().message();
  EXPECT_THAT(*revoked, ElementsAre("01", "02", "s1"));

  EXPECT_THAT(*store_->ListRevokedSerials(), ElementsAre("01", "02", "s1", "s2"));
  EXPECT_EQ(store_->GetCertificate("02")->revoked_at, At(50));
  EXPECT_EQ(store_->GetCertificate("02")->revoke_reason, "host compromised");
  EXPECT_EQ(store_->GetCertificateRequest("r1")->revoked_at, At(50));
  EXPECT_EQ(store_->GetCertificateRequest("r1")->revoke_reason, "host compromised");
  EXPECT_EQ(store_->GetCertificateRequest("r2")->revoked_at, At(20));
  EXPECT_EQ(store_->GetCertificateRequest("r2")->revoke_reason, "earlier");
  // Another host, an operator named like the host, and undecided or denied
  // requests are untouched; the host itself is not removed.
  EXPECT_FALSE(CertificateRevoked("03"));
  EXPECT_FALSE(RequestRevoked("r3"));
  EXPECT_FALSE(CertificateRevoked("04"));
  EXPECT_FALSE(RequestRevoked("r-pending"));
  EXPECT_FALSE(RequestRevoked("r-denied"));
  EXPECT_EQ(store_->GetCertificateRequest("r-pending")->state,
            tc::CertificateRequestState::kPending);
  EXPECT_FALSE(store_->GetHost("web1.example.com")->removed_at.has_value());

  Result<std::vector<std::string>> again =
      store_->RevokeHostCertificates("web1.example.com", At(60), "again");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_THAT(*again, IsEmpty());
  EXPECT_EQ(store_->GetCertificate("01")->revoked_at, At(50));
}

TEST_F(SqliteStoreRevocation, RevokeHostCertificatesOfAnUnknownHostIsNotFound) {
  OpenStore();
  EnrollTwoHosts();
  // Requests alone do not make a host: only enrollment does.
  InsertRequest(MakeRequest("r9", "ghost.example.com", "s9"));

  Result<std::vector<std::string>> revoked =
      store_->RevokeHostCertificates("ghost.example.com", At(50), "x");
  EXPECT_EQ(revoked.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(revoked.status().message(), "host \"ghost.example.com\" never enrolled");
  EXPECT_FALSE(RequestRevoked("r9"));
  EXPECT_THAT(*store_->ListRevokedSerials(), IsEmpty());
}

TEST_F(SqliteStoreRevocation, RevokeHostCertificatesWorksOnARemovedHost) {
  OpenStore();
  Enroll("web1.example.com", "01");
  ASSERT_TRUE(store_->RemoveHost("web1.example.com", At(40), "decommissioned").ok());
  // Issued after the removal (e.g. decided late): still the host's.
  InsertRequest(MakeRequest("r1", "web1.example.com", "s1"));

  Result<std::vector<std::string>> revoked =
      store_->RevokeHostCertificates("web1.example.com", At(50), "cleanup");
  ASSERT_TRUE(revoked.ok()) << revoked.status().message();
  EXPECT_THAT(*revoked, ElementsAre("s1"));
}

TEST_F(SqliteStoreRevocation, RemoveHostAlsoRevokesItsServiceCertificates) {
  OpenStore();
  EnrollTwoHosts();

  Result<std::vector<std::string>> revoked =
      store_->RemoveHost("web1.example.com", At(50), "decommissioned");
  ASSERT_TRUE(revoked.ok()) << revoked.status().message();
  EXPECT_THAT(*revoked, ElementsAre("01", "02", "s1", "s2"));

  EXPECT_THAT(*store_->ListRevokedSerials(), ElementsAre("01", "02", "s1", "s2"));
  EXPECT_EQ(store_->GetCertificateRequest("r2")->revoked_at, At(50));
  EXPECT_EQ(store_->GetCertificateRequest("r2")->revoke_reason, "decommissioned");
  EXPECT_EQ(store_->GetHost("web1.example.com")->removed_at, At(50));
  EXPECT_FALSE(RequestRevoked("r3"));
  EXPECT_FALSE(RequestRevoked("r-pending"));
  EXPECT_FALSE(CertificateRevoked("03"));
  EXPECT_FALSE(CertificateRevoked("04"));

  // A second removal revokes nothing new.
  Result<std::vector<std::string>> again =
      store_->RemoveHost("web1.example.com", At(60), "again");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_THAT(*again, IsEmpty());
}

TEST_F(SqliteStoreRevocation, RevocationsSurviveReopeningTheStore) {
  OpenStore();
  EnrollTwoHosts();
  ASSERT_TRUE(store_->RevokeCertificate("03", At(20), "lost disk").ok());
  ASSERT_TRUE(store_->RevokeCertificate("s3", At(21), "service retired").ok());
  ASSERT_TRUE(store_->RevokeHostCertificates("web1.example.com", At(22), "compromised").ok());

  OpenStore();
  EXPECT_THAT(*store_->ListRevokedSerials(), ElementsAre("01", "02", "03", "s1", "s2", "s3"));
  EXPECT_EQ(store_->GetCertificate("03")->revoked_at, At(20));
  EXPECT_EQ(store_->GetCertificate("03")->revoke_reason, "lost disk");
  EXPECT_EQ(store_->GetCertificateRequest("r3")->revoked_at, At(21));
  EXPECT_EQ(store_->GetCertificateRequest("r3")->revoke_reason, "service retired");
  EXPECT_EQ(store_->GetCertificateRequest("r2")->revoke_reason, "compromised");
  EXPECT_EQ(store_->RevokeCertificate("s3", At(30), "x").code(),
            Status::Code::kFailedPrecondition);
}

TEST_F(SqliteStoreRevocation, ListCertificatesReturnsEveryPurposeBySerial) {
  OpenStore();
  EXPECT_THAT(*store_->ListCertificates(), IsEmpty());
  Enroll("web1.example.com", "0b");
  ASSERT_TRUE(store_
                  ->InsertCertificate(
                      MakeCertificate("0a", "alice", tc::CertificatePurpose::kOperator))
                  .ok());
  ASSERT_TRUE(store_
                  ->InsertCertificate(MakeCertificate("0c", "controller.example.com",
                                                      tc::CertificatePurpose::kControllerServer))
                  .ok());
  InsertRequest(MakeRequest("r1", "web1.example.com", "00"));  // service: not listed
  ASSERT_TRUE(store_->RevokeCertificate("0a", At(20), "left the team").ok());

  Result<std::vector<tc::CertificateRecord>> certificates = store_->ListCertificates();
  ASSERT_TRUE(certificates.ok()) << certificates.status().message();
  ASSERT_EQ(certificates->size(), 3u);
  const auto& list = *certificates;
  EXPECT_EQ(list[0].serial, "0a");
  EXPECT_EQ(list[0].subject, "alice");
  EXPECT_EQ(list[0].purpose, tc::CertificatePurpose::kOperator);
  EXPECT_EQ(list[0].revoked_at, At(20));
  EXPECT_EQ(list[0].revoke_reason, "left the team");
  EXPECT_EQ(list[1].serial, "0b");
  EXPECT_EQ(list[1].subject, "web1.example.com");
  EXPECT_EQ(list[1].purpose, tc::CertificatePurpose::kAgentIdentity);
  EXPECT_EQ(list[1].fingerprint, "fp-0b");
  EXPECT_EQ(list[1].not_after, At(86400));
  EXPECT_EQ(list[1].pem, MakeCertificate("0b", "web1.example.com").pem);
  EXPECT_FALSE(list[1].revoked_at.has_value());
  EXPECT_EQ(list[2].serial, "0c");
  EXPECT_EQ(list[2].purpose, tc::CertificatePurpose::kControllerServer);
}

TEST_F(SqliteStoreRevocation, Migration5UpgradesAVersion4DatabaseKeepingRequests) {
  const auto builtin = tc::schema::BuiltinMigrations();
  ASSERT_GE(builtin.size(), 5u);
  ASSERT_EQ(builtin[4].version, 5);
  // A version 4 database holding a host and two requests, written with the
  // version 4 columns only.
  const std::string v4_with_rows =
      std::string(builtin[3].sql) +
      "INSERT INTO certificates(serial, subject, purpose, fingerprint, issued_at, not_after, pem) "
      "VALUES ('01', 'web1.example.com', 'agent_identity', 'fp', 1700000000, 1700086400, 'p');"
      "INSERT INTO hosts(fqdn, enrolled_at, certificate_serial, certificate_not_after) "
      "VALUES ('web1.example.com', 1700000010, '01', 1700086400);"
      "INSERT INTO certificate_requests(id, host_fqdn, service, names, csr_pem, state, reason, "
      "requested_at, decided_at, decided_by, serial, not_after, pem) VALUES "
      "('r1', 'web1.example.com', 'web', 'a.example.com\nb.example.com', 'csr', 'issued', '', "
      "1700000030, 1700000031, 'policy', 's1', 1700090000, 'pem-s1'),"
      "('r2', 'web1.example.com', 'web', 'c.example.com', 'csr2', 'pending', 'needs approval', "
      "1700000040, NULL, '', '', NULL, '');";
  std::vector<tc::schema::Migration> version4(builtin.begin(), builtin.begin() + 3);
  version4.push_back({4, v4_with_rows.c_str()});
  Status migrated = tc::schema::MigrateFile(path_, version4);
  ASSERT_TRUE(migrated.ok()) << migrated.message();

  OpenStore();
  EXPECT_EQ(store_->schema_version(), builtin.back().version);
  Result<tc::CertificateRequestRecord> issued = store_->GetCertificateRequest("r1");
  ASSERT_TRUE(issued.ok()) << issued.status().message();
  EXPECT_EQ(issued->host_fqdn, "web1.example.com");
  EXPECT_THAT(issued->names, ElementsAre("a.example.com", "b.example.com"));
  EXPECT_EQ(issued->state, tc::CertificateRequestState::kIssued);
  EXPECT_EQ(issued->decided_at, At(31));
  EXPECT_EQ(issued->serial, "s1");
  EXPECT_EQ(issued->not_after, At(90000));
  EXPECT_EQ(issued->certificate_pem, "pem-s1");
  EXPECT_FALSE(issued->revoked_at.has_value());
  EXPECT_EQ(issued->revoke_reason, "");
  Result<tc::CertificateRequestRecord> pending = store_->GetCertificateRequest("r2");
  ASSERT_TRUE(pending.ok()) << pending.status().message();
  EXPECT_EQ(pending->state, tc::CertificateRequestState::kPending);
  EXPECT_EQ(pending->reason, "needs approval");
  EXPECT_FALSE(pending->revoked_at.has_value());
  EXPECT_THAT(*store_->ListRevokedSerials(), IsEmpty());

  // The migrated rows can be revoked like new ones.
  Result<std::vector<std::string>> revoked =
      store_->RevokeHostCertificates("web1.example.com", At(50), "upgrade test");
  ASSERT_TRUE(revoked.ok()) << revoked.status().message();
  EXPECT_THAT(*revoked, ElementsAre("01", "s1"));
  EXPECT_EQ(store_->GetCertificateRequest("r1")->revoked_at, At(50));
}

}  // namespace
}  // namespace topos
