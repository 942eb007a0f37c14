#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "controller/store/migrations.h"
#include "controller/store/sqlite_store.h"
#include "tests/support/temp_dir.h"

namespace topos {
namespace {

namespace tc = topos::controller;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// Stored times have seconds precision, so tests use whole seconds.
const tc::TimePoint kT0{std::chrono::seconds(1'700'000'000)};
tc::TimePoint At(int seconds_after_t0) { return kT0 + std::chrono::seconds(seconds_after_t0); }

tc::TokenRecord MakeToken(const std::string& id, const std::string& fqdn, int created = 0) {
  tc::TokenRecord token;
  token.id = id;
  token.secret_hash = "hash-of-" + id;
  token.host_fqdn = fqdn;
  token.created_at = At(created);
  token.expires_at = At(created + 3600);
  token.created_by = "alice";
  return token;
}

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

tc::HostRecord MakeHost(const std::string& fqdn) {
  tc::HostRecord host;
  host.fqdn = fqdn;
  host.agent_version = "0.1.0";
  host.facts = std::string("facts\0with\0nul", 14);
  return host;
}

// Named like the class under test so tests read TEST_F(SqliteStore, ...).
class SqliteStore : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() / "state.db";
    Result<std::unique_ptr<tc::SqliteStore>> store = tc::SqliteStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
  }


  // Enrolls `fqdn` with a fresh token and certificate `serial`.
  void Enroll(const std::string& fqdn, const std::string& serial) {
    const std::string token_id = "token-" + serial;
    ASSERT_TRUE(store_->InsertToken(MakeToken(token_id, fqdn)).ok());
    Status status =
        store_->CompleteEnrollment(token_id, MakeHost(fqdn), MakeCertificate(serial, fqdn), At(10));
    ASSERT_TRUE(status.ok()) << status.message();
  }

  test_support::TempDir dir_{"topos-store-test"};  // outlives store_
  std::filesystem::path path_;
  std::unique_ptr<tc::SqliteStore> store_;
};

int LatestVersion() { return tc::schema::BuiltinMigrations().back().version; }

TEST_F(SqliteStore, AppliesAllMigrationsToANewDatabase) {
  EXPECT_GE(LatestVersion(), 1);
  EXPECT_EQ(store_->schema_version(), LatestVersion());
}

TEST_F(SqliteStore, ReopeningIsIdempotentAndKeepsData) {
  ASSERT_TRUE(store_->InsertToken(MakeToken("t1", "web1.example.com")).ok());
  store_.reset();
  for (int i = 0; i < 2; ++i) {
    Result<std::unique_ptr<tc::SqliteStore>> reopened = tc::SqliteStore::Open(path_);
    ASSERT_TRUE(reopened.ok()) << reopened.status().message();
    EXPECT_EQ((*reopened)->schema_version(), LatestVersion());
    Result<tc::TokenRecord> token = (*reopened)->GetToken("t1");
    ASSERT_TRUE(token.ok()) << token.status().message();
    EXPECT_EQ(token->host_fqdn, "web1.example.com");
  }
}

TEST_F(SqliteStore, RefusesADatabaseWithANewerSchema) {
  store_.reset();
  std::vector<tc::schema::Migration> newer(tc::schema::BuiltinMigrations().begin(),
                                           tc::schema::BuiltinMigrations().end());
  newer.push_back({LatestVersion() + 1, "CREATE TABLE from_the_future (x INTEGER);"});
  Status migrated = tc::schema::MigrateFile(path_, newer);
  ASSERT_TRUE(migrated.ok()) << migrated.message();

  Result<std::unique_ptr<tc::SqliteStore>> reopened = tc::SqliteStore::Open(path_);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(reopened.status().message(), HasSubstr("newer"));
  EXPECT_THAT(reopened.status().message(), HasSubstr(std::to_string(LatestVersion() + 1)));
}

TEST_F(SqliteStore, CreatesTheDatabaseFileOwnerOnly) {
  struct stat info {};
  ASSERT_EQ(::stat(path_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  // SQLite gives its WAL and shared-memory files the database file's mode.
  ASSERT_TRUE(store_->InsertToken(MakeToken("t1", "a.example.com")).ok());
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string side_file = path_.string() + suffix;
    ASSERT_EQ(::stat(side_file.c_str(), &info), 0) << side_file;
    EXPECT_EQ(info.st_mode & 0777, 0600u) << side_file;
  }
}

TEST_F(SqliteStore, InsertsGetsAndListsTokensNewestFirst) {
  tc::TokenRecord first = MakeToken("t1", "a.example.com", 0);
  ASSERT_TRUE(store_->InsertToken(first).ok());
  ASSERT_TRUE(store_->InsertToken(MakeToken("t2", "b.example.com", 60)).ok());

  Result<tc::TokenRecord> got = store_->GetToken("t1");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->secret_hash, first.secret_hash);
  EXPECT_EQ(got->host_fqdn, first.host_fqdn);
  EXPECT_EQ(got->created_at, first.created_at);
  EXPECT_EQ(got->expires_at, first.expires_at);
  EXPECT_FALSE(got->used_at.has_value());
  EXPECT_FALSE(got->revoked_at.has_value());
  EXPECT_EQ(got->created_by, "alice");

  Result<std::vector<tc::TokenRecord>> all = store_->ListTokens();
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "t2");
  EXPECT_EQ((*all)[1].id, "t1");

  EXPECT_EQ(store_->GetToken("nope").status().code(), Status::Code::kNotFound);
}

TEST_F(SqliteStore, DuplicateTokenIdIsAlreadyExists) {
  ASSERT_TRUE(store_->InsertToken(MakeToken("t1", "a.example.com")).ok());
  Status status = store_->InsertToken(MakeToken("t1", "b.example.com"));
  EXPECT_EQ(status.code(), Status::Code::kAlreadyExists) << status.message();
  EXPECT_EQ(store_->GetToken("t1")->host_fqdn, "a.example.com");
}

TEST_F(SqliteStore, RevokesTokens) {
  ASSERT_TRUE(store_->InsertToken(MakeToken("t1", "a.example.com")).ok());
  ASSERT_TRUE(store_->RevokeToken("t1", At(5)).ok());
  EXPECT_EQ(store_->GetToken("t1")->revoked_at, At(5));
  EXPECT_TRUE(store_->RevokeToken("t1", At(9)).ok());  // idempotent, keeps the first time
  EXPECT_EQ(store_->GetToken("t1")->revoked_at, At(5));
  EXPECT_EQ(store_->RevokeToken("nope", At(5)).code(), Status::Code::kNotFound);
}

TEST_F(SqliteStore, UsedTokenCannotBeRevoked) {
  Enroll("a.example.com", "01");
  EXPECT_EQ(store_->RevokeToken("token-01", At(20)).code(), Status::Code::kFailedPrecondition);
}

TEST_F(SqliteStore, CompleteEnrollmentCreatesHostAndCertificateAndUsesToken) {
  Enroll("web1.example.com", "0a1b");

  Result<tc::TokenRecord> token = store_->GetToken("token-0a1b");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->used_at, At(10));

  Result<tc::HostRecord> host = store_->GetHost("web1.example.com");
  ASSERT_TRUE(host.ok()) << host.status().message();
  EXPECT_EQ(host->enrolled_at, At(10));
  EXPECT_FALSE(host->removed_at.has_value());
  EXPECT_EQ(host->certificate_serial, "0a1b");
  EXPECT_EQ(host->certificate_not_after, At(86400));
  EXPECT_EQ(host->agent_version, "0.1.0");
  EXPECT_EQ(host->facts, std::string("facts\0with\0nul", 14));

  Result<tc::CertificateRecord> certificate = store_->GetCertificate("0a1b");
  ASSERT_TRUE(certificate.ok()) << certificate.status().message();
  EXPECT_EQ(certificate->subject, "web1.example.com");
  EXPECT_EQ(certificate->purpose, tc::CertificatePurpose::kAgentIdentity);
  EXPECT_EQ(certificate->fingerprint, "fp-0a1b");
  EXPECT_EQ(certificate->pem, MakeCertificate("0a1b", "web1.example.com").pem);
  EXPECT_FALSE(certificate->revoked_at.has_value());
}

TEST_F(SqliteStore, SecondEnrollmentWithTheSameTokenChangesNothing) {
  Enroll("web1.example.com", "01");
  Status again = store_->CompleteEnrollment("token-01", MakeHost("web2.example.com"),
                                            MakeCertificate("02", "web2.example.com"), At(20));
  EXPECT_EQ(again.code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(again.message(), HasSubstr("token already used"));

  Result<std::vector<tc::HostRecord>> hosts = store_->ListHosts();
  ASSERT_TRUE(hosts.ok());
  ASSERT_EQ(hosts->size(), 1u);
  EXPECT_EQ((*hosts)[0].fqdn, "web1.example.com");
  EXPECT_EQ((*hosts)[0].certificate_serial, "01");
  EXPECT_EQ(store_->GetCertificate("02").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->GetToken("token-01")->used_at, At(10));
}

TEST_F(SqliteStore, RevokedOrUnknownTokenCannotEnroll) {
  ASSERT_TRUE(store_->InsertToken(MakeToken("t1", "a.example.com")).ok());
  ASSERT_TRUE(store_->RevokeToken("t1", At(1)).ok());
  Status revoked = store_->CompleteEnrollment("t1", MakeHost("a.example.com"),
                                              MakeCertificate("01", "a.example.com"), At(2));
  EXPECT_EQ(revoked.code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(revoked.message(), HasSubstr("token revoked"));

  Status unknown = store_->CompleteEnrollment("nope", MakeHost("a.example.com"),
                                              MakeCertificate("01", "a.example.com"), At(2));
  EXPECT_EQ(unknown.code(), Status::Code::kNotFound);
  EXPECT_TRUE(store_->ListHosts()->empty());
  EXPECT_EQ(store_->GetCertificate("01").status().code(), Status::Code::kNotFound);
}

TEST_F(SqliteStore, DuplicateCertificateSerialRollsBackEnrollment) {
  Enroll("a.example.com", "01");
  ASSERT_TRUE(store_->InsertToken(MakeToken("t2", "b.example.com")).ok());
  Status status = store_->CompleteEnrollment("t2", MakeHost("b.example.com"),
                                             MakeCertificate("01", "b.example.com"), At(20));
  EXPECT_EQ(status.code(), Status::Code::kAlreadyExists) << status.message();
  EXPECT_FALSE(store_->GetToken("t2")->used_at.has_value());
  EXPECT_EQ(store_->GetHost("b.example.com").status().code(), Status::Code::kNotFound);
}

TEST_F(SqliteStore, ReEnrollingARemovedHostClearsTheRemoval) {
  Enroll("web1.example.com", "01");
  ASSERT_TRUE(
      store_->UpdateHostReports({{"web1.example.com", At(15), std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt}}).ok());
  ASSERT_TRUE(store_->RemoveHost("web1.example.com", At(20), "decommissioned").ok());
  ASSERT_TRUE(store_->GetHost("web1.example.com")->removed_at.has_value());

  ASSERT_TRUE(store_->InsertToken(MakeToken("t2", "web1.example.com")).ok());
  ASSERT_TRUE(store_
                  ->CompleteEnrollment("t2", MakeHost("web1.example.com"),
                                       MakeCertificate("02", "web1.example.com"), At(30))
                  .ok());
  Result<tc::HostRecord> host = store_->GetHost("web1.example.com");
  ASSERT_TRUE(host.ok());
  EXPECT_FALSE(host->removed_at.has_value());
  EXPECT_EQ(host->enrolled_at, At(30));
  EXPECT_EQ(host->certificate_serial, "02");
  EXPECT_EQ(host->last_seen, At(15));  // history is kept
}

TEST_F(SqliteStore, ConcurrentEnrollmentsWithOneTokenSucceedOnce) {
  ASSERT_TRUE(store_->InsertToken(MakeToken("t1", "web1.example.com")).ok());
  std::atomic<int> succeeded{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Status status = store_->CompleteEnrollment(
          "t1", MakeHost("web1.example.com"),
          MakeCertificate("serial-" + std::to_string(i), "web1.example.com"), At(10));
      if (status.ok()) ++succeeded;
      if (status.code() == Status::Code::kFailedPrecondition) ++refused;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(succeeded.load(), 1);
  EXPECT_EQ(refused.load(), 7);
  EXPECT_EQ(store_->ListHosts()->size(), 1u);
}

TEST_F(SqliteStore, RemoveHostRevokesItsIdentityCertificates) {
  Enroll("web1.example.com", "01");
  ASSERT_TRUE(
      store_->RecordRenewal("web1.example.com", MakeCertificate("02", "web1.example.com")).ok());
  Enroll("web2.example.com", "03");
  ASSERT_TRUE(store_
                  ->InsertCertificate(
                      MakeCertificate("04", "web1.example.com", tc::CertificatePurpose::kOperator))
                  .ok());

  Result<std::vector<std::string>> revoked =
      store_->RemoveHost("web1.example.com", At(50), "decommissioned");
  ASSERT_TRUE(revoked.ok()) << revoked.status().message();
  EXPECT_THAT(*revoked, UnorderedElementsAre("01", "02"));

  EXPECT_THAT(*store_->ListRevokedSerials(), ElementsAre("01", "02"));
  Result<tc::CertificateRecord> certificate = store_->GetCertificate("02");
  EXPECT_EQ(certificate->revoked_at, At(50));
  EXPECT_EQ(certificate->revoke_reason, "decommissioned");
  EXPECT_EQ(store_->GetHost("web1.example.com")->removed_at, At(50));
  EXPECT_FALSE(store_->GetCertificate("03")->revoked_at.has_value());
  EXPECT_FALSE(store_->GetCertificate("04")->revoked_at.has_value());

  EXPECT_EQ(store_->RemoveHost("nope.example.com", At(50), "x").status().code(),
            Status::Code::kNotFound);
}

TEST_F(SqliteStore, UpdateHostReportsUpdatesKnownHostsAndSkipsUnknown) {
  Enroll("a.example.com", "01");
  Enroll("b.example.com", "02");
  const std::string facts("\0\x01proto\0bytes\xff", 14);
  Status status = store_->UpdateHostReports({
      {"a.example.com", At(100), std::string("0.2.0"), facts, std::nullopt, 0, std::nullopt},
      {"unknown.example.com", At(100), std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt},
      {"b.example.com", At(100), std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt},
      {"b.example.com", At(110), std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt},
  });
  ASSERT_TRUE(status.ok()) << status.message();

  Result<tc::HostRecord> a = store_->GetHost("a.example.com");
  EXPECT_EQ(a->last_seen, At(100));
  EXPECT_EQ(a->agent_version, "0.2.0");
  EXPECT_EQ(a->facts, facts);
  Result<tc::HostRecord> b = store_->GetHost("b.example.com");
  EXPECT_EQ(b->last_seen, At(110));
  EXPECT_EQ(b->agent_version, "0.1.0");  // absent fields are kept
  EXPECT_EQ(b->facts, MakeHost("b.example.com").facts);
  EXPECT_EQ(store_->ListHosts()->size(), 2u);
  EXPECT_TRUE(store_->UpdateHostReports({}).ok());
}

TEST_F(SqliteStore, RecordRenewalUpdatesTheCurrentCertificate) {
  Enroll("a.example.com", "01");
  tc::CertificateRecord renewed = MakeCertificate("02", "a.example.com");
  renewed.not_after = At(2 * 86400);
  ASSERT_TRUE(store_->RecordRenewal("a.example.com", renewed).ok());
  Result<tc::HostRecord> host = store_->GetHost("a.example.com");
  EXPECT_EQ(host->certificate_serial, "02");
  EXPECT_EQ(host->certificate_not_after, At(2 * 86400));

  EXPECT_EQ(
      store_->RecordRenewal("nope.example.com", MakeCertificate("03", "nope.example.com")).code(),
      Status::Code::kNotFound);
  EXPECT_EQ(store_->GetCertificate("03").status().code(), Status::Code::kNotFound);
}

TEST_F(SqliteStore, CountsRefusedDuplicateConnections) {
  Enroll("a.example.com", "01");
  ASSERT_TRUE(store_->CountRefusedDuplicate("a.example.com").ok());
  ASSERT_TRUE(store_->CountRefusedDuplicate("a.example.com").ok());
  EXPECT_EQ(store_->GetHost("a.example.com")->refused_duplicate_connections, 2);
  EXPECT_EQ(store_->CountRefusedDuplicate("nope").code(), Status::Code::kNotFound);
}

TEST_F(SqliteStore, InsertsAndGetsCertificates) {
  tc::CertificateRecord server =
      MakeCertificate("ff00", "controller", tc::CertificatePurpose::kControllerServer);
  ASSERT_TRUE(store_->InsertCertificate(server).ok());
  Result<tc::CertificateRecord> got = store_->GetCertificate("ff00");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->purpose, tc::CertificatePurpose::kControllerServer);
  EXPECT_EQ(got->issued_at, server.issued_at);
  EXPECT_EQ(got->not_after, server.not_after);
  EXPECT_EQ(store_->InsertCertificate(server).code(), Status::Code::kAlreadyExists);
  EXPECT_TRUE(store_->ListRevokedSerials()->empty());
}

TEST_F(SqliteStore, UpsertsAndGetsOperators) {
  ASSERT_TRUE(store_->UpsertOperator("alice", {"admin", "viewer"}).ok());
  EXPECT_THAT(*store_->GetOperatorRoles("alice"), ElementsAre("admin", "viewer"));
  ASSERT_TRUE(store_->UpsertOperator("alice", {"viewer"}).ok());
  EXPECT_THAT(*store_->GetOperatorRoles("alice"), ElementsAre("viewer"));
  ASSERT_TRUE(store_->UpsertOperator("bob", {}).ok());
  EXPECT_TRUE(store_->GetOperatorRoles("bob")->empty());
  EXPECT_EQ(store_->GetOperatorRoles("carol").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->UpsertOperator("dave", {"a,b"}).code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace topos
