// SqliteStore: topology versions, the applied configuration version hosts
// report, and migration 2 applied to a version 1 database.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "controller/store/migrations.h"
#include "common/sqlite/statement.h"
#include "controller/store/sqlite_store.h"
#include "tests/support/temp_dir.h"

namespace topos {
namespace {

namespace tc = topos::controller;
using ::testing::HasSubstr;

const tc::TimePoint kT0{std::chrono::seconds(1'700'000'000)};
tc::TimePoint At(int seconds_after_t0) { return kT0 + std::chrono::seconds(seconds_after_t0); }

tc::TopologyVersionRecord MakeVersion(const std::string& name, std::uint64_t version = 0) {
  tc::TopologyVersionRecord record;
  record.version = version;
  record.author = "alice";
  record.created_at = At(static_cast<int>(version) * 10);
  record.message = "publish " + name;
  record.sha256 = "sha-" + name;
  record.source_name = name + ".yaml";
  record.topology_yaml = "hosts: [" + name + "]\n";
  record.roles_yaml = "roles: {" + name + ": {}}\n";
  return record;
}

std::vector<std::uint64_t> Numbers(const std::vector<tc::TopologyVersionRecord>& versions) {
  std::vector<std::uint64_t> numbers;
  for (const tc::TopologyVersionRecord& record : versions) numbers.push_back(record.version);
  return numbers;
}

class SqliteStoreTopology : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() / "state.db";
  }

  void OpenStore() {
    Result<std::unique_ptr<tc::SqliteStore>> store = tc::SqliteStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
  }


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
    host.agent_version = "0.1.0";
    tc::CertificateRecord certificate;
    certificate.serial = serial;
    certificate.subject = fqdn;
    certificate.fingerprint = "fp-" + serial;
    certificate.issued_at = At(0);
    certificate.not_after = At(86400);
    certificate.pem = "pem-" + serial;
    Status status = store_->CompleteEnrollment(token.id, host, certificate, At(10));
    ASSERT_TRUE(status.ok()) << status.message();
  }

  test_support::TempDir dir_{"topos-store-test"};  // outlives store_
  std::filesystem::path path_;
  std::unique_ptr<tc::SqliteStore> store_;
};

TEST_F(SqliteStoreTopology, AppendNumbersVersionsFromOne) {
  OpenStore();
  for (std::uint64_t expected : {1u, 2u, 3u}) {
    // The number in the record is ignored: the store assigns it.
    Result<std::uint64_t> version =
        store_->AppendTopologyVersion(MakeVersion("v" + std::to_string(expected), 42));
    ASSERT_TRUE(version.ok()) << version.status().message();
    EXPECT_EQ(*version, expected);
  }

  Result<tc::TopologyVersionRecord> second = store_->GetTopologyVersion(2);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(second->version, 2u);
  EXPECT_EQ(second->author, "alice");
  EXPECT_EQ(second->created_at, At(420));
  EXPECT_EQ(second->message, "publish v2");
  EXPECT_EQ(second->sha256, "sha-v2");
  EXPECT_EQ(second->source_name, "v2.yaml");
  EXPECT_EQ(second->topology_yaml, "hosts: [v2]\n");
  EXPECT_EQ(second->roles_yaml, "roles: {v2: {}}\n");

  Result<tc::TopologyVersionRecord> latest = store_->LatestTopologyVersion();
  ASSERT_TRUE(latest.ok()) << latest.status().message();
  EXPECT_EQ(latest->version, 3u);
  EXPECT_EQ(latest->sha256, "sha-v3");
  EXPECT_EQ(latest->topology_yaml, "hosts: [v3]\n");
}

TEST_F(SqliteStoreTopology, ListsOldestFirstWithOrWithoutContent) {
  OpenStore();
  Result<std::vector<tc::TopologyVersionRecord>> empty = store_->ListTopologyVersions(true);
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_TRUE(empty->empty());

  for (const char* name : {"a", "b", "c"}) {
    ASSERT_TRUE(store_->AppendTopologyVersion(MakeVersion(name)).ok());
  }
  Result<std::vector<tc::TopologyVersionRecord>> summaries = store_->ListTopologyVersions(false);
  ASSERT_TRUE(summaries.ok()) << summaries.status().message();
  EXPECT_EQ(Numbers(*summaries), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ((*summaries)[0].sha256, "sha-a");
  EXPECT_EQ((*summaries)[2].message, "publish c");
  EXPECT_EQ((*summaries)[1].source_name, "b.yaml");
  for (const tc::TopologyVersionRecord& record : *summaries) {
    EXPECT_TRUE(record.topology_yaml.empty());
    EXPECT_TRUE(record.roles_yaml.empty());
  }

  Result<std::vector<tc::TopologyVersionRecord>> full = store_->ListTopologyVersions(true);
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(Numbers(*full), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ((*full)[0].topology_yaml, "hosts: [a]\n");
  EXPECT_EQ((*full)[2].roles_yaml, "roles: {c: {}}\n");
}

TEST_F(SqliteStoreTopology, NotFoundBeforePublishingAndForUnknownVersions) {
  OpenStore();
  Result<tc::TopologyVersionRecord> latest = store_->LatestTopologyVersion();
  ASSERT_FALSE(latest.ok());
  EXPECT_EQ(latest.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(latest.status().message(), "no topology has been published yet");

  ASSERT_TRUE(store_->AppendTopologyVersion(MakeVersion("a")).ok());
  for (std::uint64_t version : {std::uint64_t{0}, std::uint64_t{2}, ~std::uint64_t{0}}) {
    Result<tc::TopologyVersionRecord> missing = store_->GetTopologyVersion(version);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
    EXPECT_EQ(missing.status().message(),
              "topology version " + std::to_string(version) + " does not exist");
  }
}

TEST_F(SqliteStoreTopology, ImportKeepsNumbersAndAppendContinuesFromTheHighest) {
  OpenStore();
  Status imported =
      store_->ImportTopologyVersions({MakeVersion("x", 5), MakeVersion("y", 2), MakeVersion("z", 7)});
  ASSERT_TRUE(imported.ok()) << imported.message();

  Result<std::vector<tc::TopologyVersionRecord>> listed = store_->ListTopologyVersions(true);
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  EXPECT_EQ(Numbers(*listed), (std::vector<std::uint64_t>{2, 5, 7}));
  EXPECT_EQ((*listed)[1].sha256, "sha-x");
  EXPECT_EQ((*listed)[1].created_at, At(50));
  EXPECT_EQ((*listed)[1].topology_yaml, "hosts: [x]\n");
  EXPECT_EQ(store_->LatestTopologyVersion()->version, 7u);

  Result<std::uint64_t> next = store_->AppendTopologyVersion(MakeVersion("next"));
  ASSERT_TRUE(next.ok()) << next.status().message();
  EXPECT_EQ(*next, 8u);
}

TEST_F(SqliteStoreTopology, ImportIntoAStoreWithVersionsIsRefused) {
  OpenStore();
  ASSERT_TRUE(store_->AppendTopologyVersion(MakeVersion("a")).ok());
  Status imported = store_->ImportTopologyVersions({MakeVersion("x", 5)});
  EXPECT_EQ(imported.code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(imported.message(),
            "the controller already has topology versions; import only into a new controller");
  // Even when the numbers would not collide, nothing is written.
  EXPECT_EQ(Numbers(*store_->ListTopologyVersions(false)), (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(store_->GetTopologyVersion(5).status().code(), Status::Code::kNotFound);
}

TEST_F(SqliteStoreTopology, ImportWithDuplicateOrZeroNumbersWritesNothing) {
  OpenStore();
  Status duplicate = store_->ImportTopologyVersions(
      {MakeVersion("x", 1), MakeVersion("y", 2), MakeVersion("z", 1)});
  EXPECT_EQ(duplicate.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(duplicate.message(), HasSubstr("1"));
  EXPECT_TRUE(store_->ListTopologyVersions(false)->empty());

  Status zero = store_->ImportTopologyVersions({MakeVersion("x", 1), MakeVersion("y", 0)});
  EXPECT_EQ(zero.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(store_->ListTopologyVersions(false)->empty());

  // A refused import leaves the store new: a valid import still works.
  ASSERT_TRUE(store_->ImportTopologyVersions({MakeVersion("x", 3)}).ok());
  EXPECT_EQ(Numbers(*store_->ListTopologyVersions(false)), (std::vector<std::uint64_t>{3}));
}

TEST_F(SqliteStoreTopology, ImportingNothingIsAllowed) {
  OpenStore();
  EXPECT_TRUE(store_->ImportTopologyVersions({}).ok());
  EXPECT_EQ(store_->AppendTopologyVersion(MakeVersion("a")).value(), 1u);
}

TEST_F(SqliteStoreTopology, VersionsSurviveReopening) {
  OpenStore();
  ASSERT_TRUE(store_->AppendTopologyVersion(MakeVersion("a")).ok());
  store_.reset();
  OpenStore();
  EXPECT_EQ(store_->LatestTopologyVersion()->sha256, "sha-a");
  EXPECT_EQ(store_->AppendTopologyVersion(MakeVersion("b")).value(), 2u);
}

TEST_F(SqliteStoreTopology, MigratesAVersionOneDatabase) {
  // A database as the first release left it: only migration 1, one host.
  const std::span<const tc::schema::Migration> v1 = tc::schema::BuiltinMigrations().first(1);
  ASSERT_EQ(v1.back().version, 1);
  Result<sqlite3*> db = tc::schema::OpenAndMigrate(path_, v1);
  ASSERT_TRUE(db.ok()) << db.status().message();
  Status inserted = topos::sqlite::Exec(
      *db,
      "INSERT INTO certificates(serial, subject, purpose, fingerprint, issued_at, not_after, pem) "
      "VALUES ('0a', 'old.example.com', 'agent_identity', 'fp', 1700000000, 1700086400, 'pem');"
      "INSERT INTO hosts(fqdn, enrolled_at, last_seen, agent_version, certificate_serial, "
      "certificate_not_after) VALUES ('old.example.com', 1700000010, 1700000020, '0.0.9', '0a', "
      "1700086400);",
      "insert a version 1 host");
  sqlite3_close_v2(*db);
  ASSERT_TRUE(inserted.ok()) << inserted.message();

  OpenStore();
  EXPECT_EQ(store_->schema_version(), tc::schema::BuiltinMigrations().back().version);
  Result<tc::HostRecord> host = store_->GetHost("old.example.com");
  ASSERT_TRUE(host.ok()) << host.status().message();
  EXPECT_EQ(host->enrolled_at, At(10));
  EXPECT_EQ(host->last_seen, At(20));
  EXPECT_EQ(host->agent_version, "0.0.9");
  EXPECT_EQ(host->certificate_serial, "0a");
  EXPECT_EQ(host->certificate_not_after, At(86400));
  EXPECT_EQ(host->applied_config_version, 0u);
  EXPECT_FALSE(host->config_applied_at.has_value());
  EXPECT_EQ(store_->ListHosts()->size(), 1u);

  EXPECT_EQ(store_->LatestTopologyVersion().status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->AppendTopologyVersion(MakeVersion("first")).value(), 1u);
}

TEST_F(SqliteStoreTopology, AppliedConfigVersionSetsAppliedAtOnlyWhenItChanges) {
  OpenStore();
  Enroll("a.example.com", "01");
  Result<tc::HostRecord> fresh = store_->GetHost("a.example.com");
  ASSERT_TRUE(fresh.ok()) << fresh.status().message();
  EXPECT_EQ(fresh->applied_config_version, 0u);
  EXPECT_FALSE(fresh->config_applied_at.has_value());

  auto report = [](int seen, std::optional<std::uint64_t> applied) {
    tc::HostReport r;
    r.fqdn = "a.example.com";
    r.seen_at = At(seen);
    r.applied_config_version = applied;
    return r;
  };
  auto host = [&] { return store_->GetHost("a.example.com").value(); };

  // Reporting the version already stored (0) is not a change.
  ASSERT_TRUE(store_->UpdateHostReports({report(100, 0)}).ok());
  EXPECT_EQ(host().applied_config_version, 0u);
  EXPECT_FALSE(host().config_applied_at.has_value());

  ASSERT_TRUE(store_->UpdateHostReports({report(110, 3)}).ok());
  EXPECT_EQ(host().applied_config_version, 3u);
  EXPECT_EQ(host().config_applied_at, At(110));
  EXPECT_EQ(host().last_seen, At(110));

  // Same version again, or no version at all: applied_at is kept.
  ASSERT_TRUE(store_->UpdateHostReports({report(120, 3), report(130, std::nullopt)}).ok());
  EXPECT_EQ(host().applied_config_version, 3u);
  EXPECT_EQ(host().config_applied_at, At(110));
  EXPECT_EQ(host().last_seen, At(130));

  // Within one batch, each report compares with the one before it.
  ASSERT_TRUE(store_->UpdateHostReports({report(140, 4), report(150, 4)}).ok());
  EXPECT_EQ(host().applied_config_version, 4u);
  EXPECT_EQ(host().config_applied_at, At(140));

  Result<std::vector<tc::HostRecord>> listed = store_->ListHosts();
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].applied_config_version, 4u);
  EXPECT_EQ((*listed)[0].config_applied_at, At(140));
}

}  // namespace
}  // namespace topos
