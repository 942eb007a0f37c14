// SqliteStore: CA rotations round-trip (any snapshot byte), newest first,
// duplicate and unknown ids, survive a reopen, and migration 6 applied to a
// version 5 database.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "controller/store/migrations.h"
#include "controller/store/sqlite_store.h"
#include "tests/support/temp_dir.h"

namespace topos {
namespace {

namespace tc = topos::controller;

const tc::TimePoint kT0{std::chrono::seconds(1'700'000'000)};
tc::TimePoint At(int s) { return kT0 + std::chrono::seconds(s); }

class SqliteStoreCa : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_.reset();
    auto store = tc::SqliteStore::Open(dir_.path() / "state.db");
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
  }
  std::vector<std::string> Ids() {
    auto list = store_->ListCaRotations();
    EXPECT_TRUE(list.ok());
    std::vector<std::string> ids;
    if (list.ok()) {
      for (const auto& r : *list) ids.push_back(r.id);
    }
    return ids;
  }

  test_support::TempDir dir_{"topos-store-ca"};
  std::unique_ptr<tc::SqliteStore> store_;
};

TEST_F(SqliteStoreCa, RoundTripsNewestFirstAndSurvivesAReopen) {
  EXPECT_TRUE(Ids().empty());
  const std::string binary("snap\0shot\xff", 10);
  ASSERT_TRUE(store_->CreateCaRotation({"ca-1", At(0), At(0), binary}).ok());
  ASSERT_TRUE(store_->CreateCaRotation({"ca-2", At(10), At(10), "two"}).ok());
  ASSERT_TRUE(store_->CreateCaRotation({"ca-3", At(10), At(10), "three"}).ok());
  EXPECT_EQ(Ids(), (std::vector<std::string>{"ca-3", "ca-2", "ca-1"}));

  ASSERT_TRUE(store_->SaveCaRotation({"ca-1", At(999), At(50), "updated"}).ok());
  Open();
  auto list = store_->ListCaRotations();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  const auto& first = list->back();
  EXPECT_EQ(first.id, "ca-1");
  EXPECT_EQ(first.snapshot, "updated");
  EXPECT_EQ(first.created_at, At(0)) << "Save must not move created_at";
  EXPECT_EQ(first.updated_at, At(50));
  EXPECT_EQ(list->front().snapshot, "three");
}

TEST_F(SqliteStoreCa, BinarySnapshotsRoundTrip) {
  const std::string binary("snap\0shot\xff", 10);
  ASSERT_TRUE(store_->CreateCaRotation({"ca-1", At(0), At(0), binary}).ok());
  EXPECT_EQ(store_->ListCaRotations()->front().snapshot, binary);
}

TEST_F(SqliteStoreCa, DuplicateUnknownAndEmptyIdsAreRefused) {
  ASSERT_TRUE(store_->CreateCaRotation({"ca-1", At(0), At(0), "a"}).ok());
  EXPECT_EQ(store_->CreateCaRotation({"ca-1", At(1), At(1), "b"}).code(),
            Status::Code::kAlreadyExists);
  EXPECT_EQ(store_->ListCaRotations()->front().snapshot, "a");
  Status unknown = store_->SaveCaRotation({"ca-9", At(0), At(0), "x"});
  EXPECT_EQ(unknown.code(), Status::Code::kNotFound);
  EXPECT_NE(unknown.message().find("ca-9"), std::string::npos);
  EXPECT_EQ(store_->CreateCaRotation({"", At(0), At(0), "x"}).code(),
            Status::Code::kInvalidArgument);
}

TEST(SqliteStoreCaMigration, VersionFiveDatabaseGainsTheTable) {
  test_support::TempDir dir("topos-store-ca-migration");
  const auto builtin = tc::schema::BuiltinMigrations();
  ASSERT_GE(builtin.size(), 6u);
  ASSERT_EQ(builtin[5].version, 6);
  std::vector<tc::schema::Migration> version5(builtin.begin(), builtin.begin() + 5);
  ASSERT_TRUE(tc::schema::MigrateFile(dir.path() / "state.db", version5).ok());
  auto store = tc::SqliteStore::Open(dir.path() / "state.db");
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ((*store)->schema_version(), builtin.back().version);
  ASSERT_TRUE((*store)->CreateCaRotation({"ca-1", At(0), At(0), "a"}).ok());
  EXPECT_EQ((*store)->ListCaRotations()->size(), 1u);
}

}  // namespace
}  // namespace topos
