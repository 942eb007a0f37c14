// SqliteStore's artifact index: idempotent inserts, refusal of a different
// digest for a stored (service, version), lookups and listing order.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>

#include "controller/store/sqlite_store.h"

namespace topos {
namespace {

namespace tc = topos::controller;
using ::testing::HasSubstr;

const tc::TimePoint kT0{std::chrono::seconds(1'700'000'000)};

std::string Digest(char c) { return std::string(64, c); }

tc::ArtifactRecord MakeArtifact(const std::string& service, const std::string& version,
                                const std::string& sha256, int pushed_after_t0 = 0) {
  tc::ArtifactRecord record;
  record.service = service;
  record.version = version;
  record.sha256 = sha256;
  record.size = 1234;
  record.file_name = service + "-" + version + ".tar.gz";
  record.pushed_at = kT0 + std::chrono::seconds(pushed_after_t0);
  record.pushed_by = "alice";
  return record;
}

class SqliteStoreArtifacts : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topos-store-artifacts-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    auto store = tc::SqliteStore::Open(dir_ / "topos.db");
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<tc::SqliteStore> store_;
};

TEST_F(SqliteStoreArtifacts, InsertThenGetByKeyAndByDigest) {
  ASSERT_TRUE(store_->InsertArtifact(MakeArtifact("topos-pchat", "6.0.1", Digest('a'))).ok());
  auto by_key = store_->GetArtifact("topos-pchat", "6.0.1");
  ASSERT_TRUE(by_key.ok()) << by_key.status().message();
  EXPECT_EQ(by_key->sha256, Digest('a'));
  EXPECT_EQ(by_key->size, 1234u);
  EXPECT_EQ(by_key->file_name, "topos-pchat-6.0.1.tar.gz");
  EXPECT_EQ(by_key->pushed_at, kT0);
  EXPECT_EQ(by_key->pushed_by, "alice");
  auto by_digest = store_->GetArtifactByDigest(Digest('a'));
  ASSERT_TRUE(by_digest.ok());
  EXPECT_EQ(by_digest->version, "6.0.1");
}

TEST_F(SqliteStoreArtifacts, SameDigestAgainIsIdempotent) {
  ASSERT_TRUE(store_->InsertArtifact(MakeArtifact("svc", "1", Digest('a'))).ok());
  auto again = MakeArtifact("svc", "1", Digest('a'), 60);
  again.pushed_by = "bob";
  EXPECT_TRUE(store_->InsertArtifact(again).ok());
  auto stored = store_->GetArtifact("svc", "1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->pushed_by, "alice") << "the first push's record is kept";
  EXPECT_EQ(store_->ListArtifacts("")->size(), 1u);
}

TEST_F(SqliteStoreArtifacts, DifferentDigestForSameVersionIsRefusedNamingTheStoredOne) {
  ASSERT_TRUE(store_->InsertArtifact(MakeArtifact("svc", "1", Digest('a'))).ok());
  Status refused = store_->InsertArtifact(MakeArtifact("svc", "1", Digest('b')));
  EXPECT_EQ(refused.code(), Status::Code::kAlreadyExists);
  EXPECT_THAT(refused.message(), HasSubstr(Digest('a')));
  EXPECT_EQ(store_->GetArtifact("svc", "1")->sha256, Digest('a'));
}

TEST_F(SqliteStoreArtifacts, UnknownKeysAreNotFound) {
  EXPECT_EQ(store_->GetArtifact("svc", "1").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->GetArtifactByDigest(Digest('c')).status().code(), Status::Code::kNotFound);
  ASSERT_TRUE(store_->InsertArtifact(MakeArtifact("svc", "1", Digest('a'))).ok());
  EXPECT_EQ(store_->GetArtifact("svc", "2").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->GetArtifact("other", "1").status().code(), Status::Code::kNotFound);
}

TEST_F(SqliteStoreArtifacts, ListsByServiceThenPushTimeAndFilters) {
  ASSERT_TRUE(store_->InsertArtifact(MakeArtifact("web", "2", Digest('d'), 30)).ok());
  ASSERT_TRUE(store_->InsertArtifact(MakeArtifact("chat", "2", Digest('b'), 20)).ok());
  ASSERT_TRUE(store_->InsertArtifact(MakeArtifact("chat", "1", Digest('a'), 10)).ok());
  ASSERT_TRUE(store_->InsertArtifact(MakeArtifact("web", "1", Digest('c'), 40)).ok());
  auto all = store_->ListArtifacts("");
  ASSERT_TRUE(all.ok());
  std::vector<std::string> order;
  for (const auto& a : *all) order.push_back(a.service + "/" + a.version);
  EXPECT_THAT(order, ::testing::ElementsAre("chat/1", "chat/2", "web/2", "web/1"));
  auto web = store_->ListArtifacts("web");
  ASSERT_TRUE(web.ok());
  ASSERT_EQ(web->size(), 2u);
  EXPECT_EQ((*web)[0].version, "2");
  EXPECT_TRUE(store_->ListArtifacts("nothing")->empty());
}

TEST_F(SqliteStoreArtifacts, SameBytesUnderTwoVersionsResolveToTheFirstPush) {
  ASSERT_TRUE(store_->InsertArtifact(MakeArtifact("svc", "1", Digest('a'), 10)).ok());
  ASSERT_TRUE(store_->InsertArtifact(MakeArtifact("svc", "1-rebuild", Digest('a'), 20)).ok());
  EXPECT_EQ(store_->GetArtifactByDigest(Digest('a'))->version, "1");
}

TEST_F(SqliteStoreArtifacts, SurvivesReopen) {
  ASSERT_TRUE(store_->InsertArtifact(MakeArtifact("svc", "1", Digest('a'))).ok());
  store_.reset();
  auto reopened = tc::SqliteStore::Open(dir_ / "topos.db");
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->GetArtifact("svc", "1")->sha256, Digest('a'));
}

}  // namespace
}  // namespace topos
