#include "agent/localstore/local_store.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/file_io.h"

namespace topos::agent {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::MessageDifferencer;

constexpr char kHost[] = "chat1.example.org";

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() / ("localstore_test_" + std::to_string(random()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<LocalStore> OpenStore() {
    auto store = LocalStore::Open(dir_);
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  static topos::v1::HostConfig Config(std::uint64_t version, const std::string& value = "on") {
    topos::v1::HostConfig config;
    config.set_version(version);
    config.set_published_at_unix(1700000000 + static_cast<std::int64_t>(version));
    config.set_host_fqdn(kHost);
    config.set_site("paris");
    auto* pool = config.add_pools();
    pool->set_name("chat");
    pool->set_role("chat");
    pool->set_site("paris");
    pool->add_hosts(kHost);
    auto* service = config.add_services();
    service->set_name("chatd");
    service->set_role("chat");
    service->set_version("1.2.3");
    auto* setting = config.add_settings();
    setting->set_key("feature.x");
    setting->set_value(value);
    return config;
  }

  static topos::v1::HostConfig ParseSnapshot(const fs::path& path) {
    auto text = ReadFile(path);
    EXPECT_TRUE(text.ok()) << text.status().message();
    topos::v1::HostConfig config;
    if (!text.ok()) return config;
    auto status = google::protobuf::util::JsonStringToMessage(*text, &config);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return config;
  }

  static unsigned Mode(const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  static void ExpectSame(const topos::v1::HostConfig& a, const topos::v1::HostConfig& b) {
    EXPECT_TRUE(MessageDifferencer::Equals(a, b)) << a.DebugString() << "\nvs\n" << b.DebugString();
  }

  // The newest version in a copy of local.db alone (no journal, no WAL):
  // what survives if only the database file is kept; -1 when unreadable.
  std::int64_t MaxVersionInCopy() const {
    const fs::path copy = dir_ / "copy.db";
    fs::copy_file(dir_ / "store" / "local.db", copy, fs::copy_options::overwrite_existing);
    sqlite3* db = nullptr;
    sqlite3_stmt* stmt = nullptr;
    std::int64_t version = -1;
    if (sqlite3_open_v2(copy.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT MAX(version) FROM config_versions", -1, &stmt,
                           nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      version = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return version;
  }

  fs::path dir_;
};

TEST_F(LocalStoreTest, EmptyStoreHasVersionZeroAndNoCurrent) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->version(), 0u);
  auto current = store->Current();
  ASSERT_FALSE(current.ok());
  EXPECT_EQ(current.status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(fs::exists(store->snapshot_path()));
}

// Files under the store directory this process has open right now.
int OpenStoreFiles(const fs::path& store_dir) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = fs::read_symlink(entry.path(), ec);
    if (!ec && target.string().rfind(store_dir.string(), 0) == 0) ++count;
  }
  return count;
}

// The store keeps its database open and nothing else: operations leave no
// descriptor behind (a benchmark process holds thousands of simulated
// agents), and closing the store releases it.
TEST_F(LocalStoreTest, HoldsOnlyItsDatabaseOpenBetweenOperations) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(OpenStoreFiles(dir_), 1);
  for (std::uint64_t version = 1; version <= 8; ++version) {
    ASSERT_TRUE(store->Apply(Config(version, version % 2 ? "on" : "off"), kHost).ok());
    ASSERT_TRUE(store->Current().ok());
  }
  EXPECT_EQ(OpenStoreFiles(dir_), 1);
  store.reset();
  EXPECT_EQ(OpenStoreFiles(dir_), 0);
  // And the data is durable across a reopen.
  auto reopened = OpenStore();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->version(), 8u);
}

ino_t Inode(const fs::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// The journal mode a pragma reports ("wal", "persist", "delete", ...).
std::string JournalMode(sqlite3* db, const char* pragma) {
  sqlite3_stmt* stmt = nullptr;
  std::string mode;
  if (sqlite3_prepare_v2(db, pragma, -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    mode = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  return mode;
}

// A publish reaches every agent at once: an apply must not create and delete
// its journal each time (on ext4, creating a file just after deleting one
// scans the inode bitmap; with thousands of agents on a box that churn was a
// fifth of an apply's cost), nor leave WAL files whose index every opening
// maps again. The journal is truncated after each commit, kept in place.
TEST_F(LocalStoreTest, KeepsOneJournalAcrossOperations) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Apply(Config(1), kHost).ok());
  const fs::path journal = dir_ / "store" / "local.db-journal";
  const ino_t journal_inode = Inode(journal);
  ASSERT_NE(journal_inode, 0u) << "no " << journal;
  EXPECT_EQ(Mode(journal), 0600u);
  ASSERT_TRUE(store->Apply(Config(2, "off"), kHost).ok());
  ASSERT_TRUE(store->Current().ok());
  EXPECT_EQ(Inode(journal), journal_inode);
  EXPECT_EQ(fs::file_size(journal), 0u);  // no transaction left in it
  EXPECT_FALSE(fs::exists(dir_ / "store" / "local.db-wal"));
  EXPECT_FALSE(fs::exists(dir_ / "store" / "local.db-shm"));
  // Every commit is in local.db itself, with the store still open: a copy
  // of it alone is complete.
  EXPECT_EQ(MaxVersionInCopy(), 2);
}

// An agent upgraded from a release whose store used WAL keeps its data and
// leaves WAL on the first opening.
TEST_F(LocalStoreTest, ConvertsAStoreLeftInWalMode) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Apply(Config(1), kHost).ok());
  }
  const fs::path db_path = dir_ / "store" / "local.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  EXPECT_EQ(JournalMode(db, "PRAGMA journal_mode=WAL"), "wal");
  sqlite3_close(db);

  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->version(), 1u);
  ASSERT_TRUE(store->Apply(Config(2, "off"), kHost).ok());
  ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  EXPECT_NE(JournalMode(db, "PRAGMA journal_mode"), "wal");
  sqlite3_close(db);
  EXPECT_FALSE(fs::exists(dir_ / "store" / "local.db-wal"));
  EXPECT_EQ(MaxVersionInCopy(), 2);
}

TEST_F(LocalStoreTest, ApplyWritesVersionAndSnapshot) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Apply(Config(1), kHost).ok());
  EXPECT_EQ(store->version(), 1u);
  auto current = store->Current();
  ASSERT_TRUE(current.ok()) << current.status().message();
  ExpectSame(*current, Config(1));
  ExpectSame(ParseSnapshot(store->snapshot_path()), Config(1));
  EXPECT_EQ(Mode(store->snapshot_path()), 0644u);

  ASSERT_TRUE(store->Apply(Config(2, "off"), kHost).ok());
  EXPECT_EQ(store->version(), 2u);
  ExpectSame(*store->Current(), Config(2, "off"));
  ExpectSame(ParseSnapshot(store->snapshot_path()), Config(2, "off"));
}

TEST_F(LocalStoreTest, SnapshotHasEveryFieldWithProtoNames) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Apply(Config(1), kHost).ok());
  auto text = ReadFile(store->snapshot_path());
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("\"published_at_unix\""), std::string::npos);
  EXPECT_NE(text->find("\"content_sha256\""), std::string::npos);  // empty, still present
  EXPECT_EQ(*text, HostConfigToJson(Config(1)));
}

TEST_F(LocalStoreTest, OlderVersionIsRefusedAndChangesNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Apply(Config(3), kHost).ok());
  auto before = ReadFile(store->snapshot_path());
  ASSERT_TRUE(before.ok());

  Status status = store->Apply(Config(2, "off"), kHost);
  EXPECT_EQ(status.code(), Status::Code::kFailedPrecondition) << status.message();
  EXPECT_EQ(store->version(), 3u);
  ExpectSame(*store->Current(), Config(3));
  EXPECT_EQ(*ReadFile(store->snapshot_path()), *before);
}

TEST_F(LocalStoreTest, SameVersionSameContentIsANoOp) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Apply(Config(1), kHost).ok());
  // Remove the snapshot: a no-op apply must not write it again.
  fs::remove(store->snapshot_path());
  ASSERT_TRUE(store->Apply(Config(1), kHost).ok());
  EXPECT_EQ(store->version(), 1u);
  EXPECT_FALSE(fs::exists(store->snapshot_path()));
}

TEST_F(LocalStoreTest, SameVersionOtherContentReplacesIt) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Apply(Config(1), kHost).ok());
  ASSERT_TRUE(store->Apply(Config(1, "resynced"), kHost).ok());
  EXPECT_EQ(store->version(), 1u);
  ExpectSame(*store->Current(), Config(1, "resynced"));
  ExpectSame(ParseSnapshot(store->snapshot_path()), Config(1, "resynced"));
}

// Current() is kept in memory: it must follow every accepted apply, ignore
// refused ones, and match what a fresh opening reads from the database.
TEST_F(LocalStoreTest, CurrentFollowsAcceptedAppliesOnly) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Apply(Config(2), kHost).ok());
  ExpectSame(*store->Current(), Config(2));
  ASSERT_TRUE(store->Apply(Config(3, "off"), kHost).ok());
  ExpectSame(*store->Current(), Config(3, "off"));
  EXPECT_FALSE(store->Apply(Config(1, "stale"), kHost).ok());
  topos::v1::HostConfig other_host = Config(4, "elsewhere");
  other_host.set_host_fqdn("other.example.org");
  EXPECT_FALSE(store->Apply(other_host, kHost).ok());
  ExpectSame(*store->Current(), Config(3, "off"));
  ASSERT_TRUE(store->Apply(Config(3, "resynced"), kHost).ok());
  ExpectSame(*store->Current(), Config(3, "resynced"));
  store.reset();
  auto reopened = OpenStore();
  ASSERT_NE(reopened, nullptr);
  ExpectSame(*reopened->Current(), Config(3, "resynced"));
}

// The store keeps its statements prepared between operations; none may keep
// a read or a transaction open afterwards, or an operator's sqlite3 session
// (or a second agent process, refused at once) would find the database
// locked. Every path runs once: a read from a fresh opening, an apply, the
// same version again unchanged and changed, and a refused stale one.
TEST_F(LocalStoreTest, LeavesNoLockBetweenOperations) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Apply(Config(1), kHost).ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Current().ok());
  ASSERT_TRUE(store->Apply(Config(2), kHost).ok());
  ASSERT_TRUE(store->Apply(Config(2), kHost).ok());
  ASSERT_TRUE(store->Apply(Config(2, "resynced"), kHost).ok());
  EXPECT_FALSE(store->Apply(Config(1, "stale"), kHost).ok());

  const fs::path db_path = dir_ / "store" / "local.db";
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &other, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  // No busy timeout: an exclusive lock is granted only if nobody holds any.
  const int rc = sqlite3_exec(other, "BEGIN EXCLUSIVE; COMMIT;", nullptr, nullptr, nullptr);
  EXPECT_EQ(rc, SQLITE_OK) << sqlite3_errmsg(other);
  sqlite3_close(other);
  ASSERT_TRUE(store->Apply(Config(3), kHost).ok());
}

TEST_F(LocalStoreTest, ConfigForAnotherHostIsRefused) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Status status = store->Apply(Config(1), "other.example.org");
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument) << status.message();
  EXPECT_EQ(store->version(), 0u);
  EXPECT_FALSE(fs::exists(store->snapshot_path()));
}

TEST_F(LocalStoreTest, VersionZeroIsRefused) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Status status = store->Apply(Config(0), kHost);
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument) << status.message();
  EXPECT_EQ(store->version(), 0u);
}

TEST_F(LocalStoreTest, ConfigLargerThanOneMebibyteIsRefused) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto config = Config(1);
  config.mutable_settings(0)->set_value(std::string((1 << 20) + 1, 'x'));
  Status status = store->Apply(config, kHost);
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument) << status.message();
  EXPECT_EQ(store->version(), 0u);
}

TEST_F(LocalStoreTest, ReopenKeepsVersion) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Apply(Config(1), kHost).ok());
    ASSERT_TRUE(store->Apply(Config(7, "seven"), kHost).ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->version(), 7u);
  ExpectSame(*store->Current(), Config(7, "seven"));
  EXPECT_EQ(store->Apply(Config(6), kHost).code(), Status::Code::kFailedPrecondition);
}

TEST_F(LocalStoreTest, OpenRewritesDeletedSnapshot) {
  fs::path snapshot;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Apply(Config(2), kHost).ok());
    snapshot = store->snapshot_path();
  }
  fs::remove(snapshot);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ExpectSame(ParseSnapshot(snapshot), Config(2));
}

TEST_F(LocalStoreTest, OpenRewritesDamagedSnapshot) {
  fs::path snapshot;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Apply(Config(2), kHost).ok());
    snapshot = store->snapshot_path();
  }
  ASSERT_TRUE(WriteFileAtomically(snapshot, "{ not json").ok());
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ExpectSame(ParseSnapshot(snapshot), Config(2));
}

// A crash between the commit and the snapshot write leaves the previous
// version's current.json next to a database holding the new one.
TEST_F(LocalStoreTest, OpenRepairsStaleSnapshotAfterCrashBetweenCommitAndSnapshot) {
  fs::path snapshot;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Apply(Config(1), kHost).ok());
    ASSERT_TRUE(store->Apply(Config(2, "new"), kHost).ok());
    snapshot = store->snapshot_path();
  }
  ASSERT_TRUE(WriteFileAtomically(snapshot, HostConfigToJson(Config(1))).ok());
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->version(), 2u);
  ExpectSame(ParseSnapshot(snapshot), Config(2, "new"));
  EXPECT_EQ(Mode(snapshot), 0644u);
}

TEST_F(LocalStoreTest, KeepsOnlyTheFiveNewestVersions) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  for (std::uint64_t v = 1; v <= 8; ++v) ASSERT_TRUE(store->Apply(Config(v), kHost).ok());
  store.reset();
  // The store has no API for old versions: look into the database itself.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((dir_ / "store" / "local.db").c_str(), &db, SQLITE_OPEN_READONLY,
                            nullptr),
            SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT version FROM config_versions ORDER BY version", -1,
                               &stmt, nullptr),
            SQLITE_OK);
  std::vector<std::int64_t> versions;
  while (sqlite3_step(stmt) == SQLITE_ROW) versions.push_back(sqlite3_column_int64(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  EXPECT_EQ(versions, (std::vector<std::int64_t>{4, 5, 6, 7, 8}));
}

TEST_F(LocalStoreTest, DirectoryAndDatabaseArePrivate) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Apply(Config(1), kHost).ok());
  EXPECT_EQ(Mode(dir_ / "store"), 0700u);
  EXPECT_EQ(Mode(dir_ / "store" / "local.db"), 0600u);
  for (const char* kept : {"local.db-wal", "local.db-shm"}) {
    if (fs::exists(dir_ / "store" / kept)) {
      EXPECT_EQ(Mode(dir_ / "store" / kept), 0600u) << kept;
    }
  }
}

TEST_F(LocalStoreTest, OpenTightensLooseModes) {
  { ASSERT_NE(OpenStore(), nullptr); }
  fs::permissions(dir_ / "store", fs::perms::all);
  fs::permissions(dir_ / "store" / "local.db",
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  ASSERT_NE(OpenStore(), nullptr);
  EXPECT_EQ(Mode(dir_ / "store"), 0700u);
  EXPECT_EQ(Mode(dir_ / "store" / "local.db"), 0600u);
}

}  // namespace
}  // namespace topos::agent
