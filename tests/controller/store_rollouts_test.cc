// SqliteStore: rollouts, their events and each host's planned steps, and
// migration 4 applied to a version 3 database.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
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
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const tc::TimePoint kT0{std::chrono::seconds(1'700'000'000)};
tc::TimePoint At(int seconds_after_t0) { return kT0 + std::chrono::seconds(seconds_after_t0); }

// Serialized protobufs are arbitrary bytes: include NUL and high bytes.
std::string Bytes(const std::string& tag) {
  return std::string("\0\x01", 2) + tag + std::string("\0\xff\x80", 3) + tag;
}

tc::RolloutRecord MakeRollout(const std::string& id, int created_after_t0, bool done = false) {
  tc::RolloutRecord record;
  record.id = id;
  record.state = done ? "succeeded" : "running";
  record.done = done;
  record.created_at = At(created_after_t0);
  record.snapshot = Bytes("snapshot-" + id);
  return record;
}

tc::RolloutEventRecord Event(std::uint64_t seq) {
  return tc::RolloutEventRecord{seq, Bytes("event-" + std::to_string(seq))};
}

std::vector<tc::RolloutEventRecord> Events(std::uint64_t first, std::uint64_t last) {
  std::vector<tc::RolloutEventRecord> events;
  for (std::uint64_t seq = first; seq <= last; ++seq) events.push_back(Event(seq));
  return events;
}

std::vector<std::uint64_t> Seqs(const std::vector<tc::RolloutEventRecord>& events) {
  std::vector<std::uint64_t> seqs;
  for (const tc::RolloutEventRecord& event : events) seqs.push_back(event.seq);
  return seqs;
}

std::vector<std::string> Ids(const std::vector<tc::RolloutRecord>& rollouts) {
  std::vector<std::string> ids;
  for (const tc::RolloutRecord& rollout : rollouts) ids.push_back(rollout.id);
  return ids;
}

const std::vector<std::pair<std::string, std::string>> kSteps = {
    {"web1.example.com", Bytes("steps-web1")},
    {"web2.example.com", Bytes("steps-web2")},
};

class SqliteStoreRollouts : public ::testing::Test {
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


  void Create(const tc::RolloutRecord& rollout,
              const std::vector<tc::RolloutEventRecord>& events = {},
              const std::vector<std::pair<std::string, std::string>>& steps = kSteps) {
    Status status = store_->CreateRollout(rollout, events, steps);
    ASSERT_TRUE(status.ok()) << status.message();
  }

  std::vector<tc::RolloutEventRecord> ListEvents(const std::string& id, std::uint64_t after_seq,
                                                 std::size_t limit) {
    Result<std::vector<tc::RolloutEventRecord>> events =
        store_->ListRolloutEvents(id, after_seq, limit);
    EXPECT_TRUE(events.ok()) << events.status().message();
    return events.ok() ? *events : std::vector<tc::RolloutEventRecord>{};
  }

  test_support::TempDir dir_{"topos-store-test"};  // outlives store_
  std::filesystem::path path_;
  std::unique_ptr<tc::SqliteStore> store_;
};

void ExpectSameRollout(const tc::RolloutRecord& actual, const tc::RolloutRecord& expected) {
  EXPECT_EQ(actual.id, expected.id);
  EXPECT_EQ(actual.state, expected.state);
  EXPECT_EQ(actual.done, expected.done);
  EXPECT_EQ(actual.created_at, expected.created_at);
  EXPECT_EQ(actual.snapshot, expected.snapshot);
}

TEST_F(SqliteStoreRollouts, CreateStoresRolloutEventsAndStepsByteForByte) {
  OpenStore();
  const tc::RolloutRecord rollout = MakeRollout("r-1", 0);
  ASSERT_EQ(rollout.snapshot.size(), 2 * std::string("snapshot-r-1").size() + 5);  // NULs kept
  Create(rollout, Events(1, 2));

  Result<tc::RolloutRecord> stored = store_->GetRollout("r-1");
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  ExpectSameRollout(*stored, rollout);

  std::vector<tc::RolloutEventRecord> events = ListEvents("r-1", 0, 100);
  ASSERT_THAT(Seqs(events), ElementsAre(1u, 2u));
  EXPECT_EQ(events[0].event, Event(1).event);
  EXPECT_EQ(events[1].event, Event(2).event);

  for (const auto& [fqdn, steps] : kSteps) {
    Result<std::string> stored_steps = store_->GetRolloutHostSteps("r-1", fqdn);
    ASSERT_TRUE(stored_steps.ok()) << stored_steps.status().message();
    EXPECT_EQ(*stored_steps, steps);
  }
}

TEST_F(SqliteStoreRollouts, EmptyBlobsRoundTrip) {
  OpenStore();
  tc::RolloutRecord rollout = MakeRollout("r-empty", 0);
  rollout.snapshot.clear();
  Create(rollout, {tc::RolloutEventRecord{1, ""}}, {{"web1.example.com", ""}});
  Result<tc::RolloutRecord> stored = store_->GetRollout("r-empty");
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_EQ(stored->snapshot, "");
  std::vector<tc::RolloutEventRecord> events = ListEvents("r-empty", 0, 10);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "");
  Result<std::string> steps = store_->GetRolloutHostSteps("r-empty", "web1.example.com");
  ASSERT_TRUE(steps.ok()) << steps.status().message();
  EXPECT_EQ(*steps, "");
}

TEST_F(SqliteStoreRollouts, DuplicateIdIsAlreadyExistsAndKeepsTheFirst) {
  OpenStore();
  const tc::RolloutRecord first = MakeRollout("r-1", 0);
  Create(first, Events(1, 1));
  tc::RolloutRecord second = MakeRollout("r-1", 50, /*done=*/true);
  second.snapshot = "other";
  Status status = store_->CreateRollout(second, Events(2, 3), {{"db1.example.com", "x"}});
  EXPECT_EQ(status.code(), Status::Code::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("rollout \"r-1\" already exists"));

  Result<tc::RolloutRecord> stored = store_->GetRollout("r-1");
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  ExpectSameRollout(*stored, first);
  EXPECT_THAT(Seqs(ListEvents("r-1", 0, 10)), ElementsAre(1u));
  EXPECT_EQ(store_->GetRolloutHostSteps("r-1", "db1.example.com").status().code(),
            Status::Code::kNotFound);
}

TEST_F(SqliteStoreRollouts, CreateIsAllOrNothing) {
  OpenStore();
  // A seq repeated among the first events.
  Status status = store_->CreateRollout(MakeRollout("r-1", 0), {Event(1), Event(1)}, kSteps);
  EXPECT_EQ(status.code(), Status::Code::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("seq 1"));
  EXPECT_EQ(store_->GetRollout("r-1").status().code(), Status::Code::kNotFound);

  // A host listed twice.
  status = store_->CreateRollout(MakeRollout("r-2", 0), Events(1, 1),
                                 {{"web1.example.com", "a"}, {"web1.example.com", "b"}});
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("web1.example.com"));
  EXPECT_EQ(store_->GetRollout("r-2").status().code(), Status::Code::kNotFound);

  // Nothing half-written blocks a correct retry under the same id.
  Create(MakeRollout("r-2", 0), Events(1, 1));
  EXPECT_THAT(Seqs(ListEvents("r-2", 0, 10)), ElementsAre(1u));
}

TEST_F(SqliteStoreRollouts, RefusesEmptyIdAndOutOfRangeSeqs) {
  OpenStore();
  EXPECT_EQ(store_->CreateRollout(MakeRollout("", 0), {}, {}).code(),
            Status::Code::kInvalidArgument);
  Status zero = store_->CreateRollout(MakeRollout("r-1", 0), {Event(0)}, {});
  EXPECT_EQ(zero.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(zero.message(), HasSubstr("seq 0"));
  EXPECT_EQ(store_->GetRollout("r-1").status().code(), Status::Code::kNotFound);

  Create(MakeRollout("r-1", 0));
  const std::uint64_t too_big =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;
  EXPECT_EQ(store_->SaveRollout(MakeRollout("r-1", 0, true), {Event(too_big)}).code(),
            Status::Code::kInvalidArgument);
  EXPECT_FALSE(store_->GetRollout("r-1")->done);
}

TEST_F(SqliteStoreRollouts, ListsNewestFirstAndOnlyUnfinishedOnRequest) {
  OpenStore();
  Result<std::vector<tc::RolloutRecord>> none = store_->ListRollouts(false);
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_THAT(*none, IsEmpty());

  Create(MakeRollout("r-a", 10, /*done=*/true));
  Create(MakeRollout("r-b", 30));
  Create(MakeRollout("r-c", 20));
  Create(MakeRollout("r-d", 20, /*done=*/true));  // same second as r-c: id breaks the tie

  Result<std::vector<tc::RolloutRecord>> all = store_->ListRollouts(false);
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_THAT(Ids(*all), ElementsAre("r-b", "r-d", "r-c", "r-a"));
  ExpectSameRollout((*all)[0], MakeRollout("r-b", 30));

  Result<std::vector<tc::RolloutRecord>> unfinished = store_->ListRollouts(true);
  ASSERT_TRUE(unfinished.ok()) << unfinished.status().message();
  EXPECT_THAT(Ids(*unfinished), ElementsAre("r-b", "r-c"));

  // Finishing one takes it off the unfinished list.
  ASSERT_TRUE(store_->SaveRollout(MakeRollout("r-b", 30, /*done=*/true), {}).ok());
  unfinished = store_->ListRollouts(true);
  ASSERT_TRUE(unfinished.ok()) << unfinished.status().message();
  EXPECT_THAT(Ids(*unfinished), ElementsAre("r-c"));
}

TEST_F(SqliteStoreRollouts, SaveReplacesStateAndAppendsEvents) {
  OpenStore();
  Create(MakeRollout("r-1", 0), Events(1, 2));

  tc::RolloutRecord paused = MakeRollout("r-1", 999);  // created_at is not replaced
  paused.state = "paused";
  paused.snapshot = Bytes("paused");
  Status saved = store_->SaveRollout(paused, Events(3, 4));
  ASSERT_TRUE(saved.ok()) << saved.message();

  Result<tc::RolloutRecord> stored = store_->GetRollout("r-1");
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_EQ(stored->state, "paused");
  EXPECT_FALSE(stored->done);
  EXPECT_EQ(stored->snapshot, Bytes("paused"));
  EXPECT_EQ(stored->created_at, At(0));

  tc::RolloutRecord finished = paused;
  finished.state = "succeeded";
  finished.done = true;
  ASSERT_TRUE(store_->SaveRollout(finished, {}).ok());  // no events is fine
  stored = store_->GetRollout("r-1");
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_EQ(stored->state, "succeeded");
  EXPECT_TRUE(stored->done);

  std::vector<tc::RolloutEventRecord> events = ListEvents("r-1", 0, 100);
  EXPECT_THAT(Seqs(events), ElementsAre(1u, 2u, 3u, 4u));
  EXPECT_EQ(events[3].event, Event(4).event);
}

TEST_F(SqliteStoreRollouts, SaveWithADuplicateSeqKeepsNothingOfThatCall) {
  OpenStore();
  const tc::RolloutRecord original = MakeRollout("r-1", 0);
  Create(original, Events(1, 2));

  tc::RolloutRecord changed = original;
  changed.state = "failed";
  changed.done = true;
  changed.snapshot = "changed";
  // seq 3 is new, seq 2 is already stored: 3 must not be kept either.
  Status status = store_->SaveRollout(changed, {Event(3), Event(2)});
  EXPECT_EQ(status.code(), Status::Code::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("rollout \"r-1\""));
  EXPECT_THAT(status.message(), HasSubstr("seq 2"));

  // A seq repeated within one call is refused the same way.
  status = store_->SaveRollout(changed, {Event(5), Event(5)});
  EXPECT_EQ(status.code(), Status::Code::kAlreadyExists);

  Result<tc::RolloutRecord> stored = store_->GetRollout("r-1");
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  ExpectSameRollout(*stored, original);
  EXPECT_THAT(Seqs(ListEvents("r-1", 0, 100)), ElementsAre(1u, 2u));
}

TEST_F(SqliteStoreRollouts, EventsHonourAfterSeqAndLimitInSeqOrder) {
  OpenStore();
  Create(MakeRollout("r-1", 0), Events(1, 2));
  Create(MakeRollout("r-2", 0), Events(1, 9));  // another rollout's events never leak in
  // Stored out of order; listed in seq order.
  ASSERT_TRUE(store_->SaveRollout(MakeRollout("r-1", 0), {Event(5), Event(3)}).ok());
  ASSERT_TRUE(store_->SaveRollout(MakeRollout("r-1", 0), {Event(4)}).ok());

  EXPECT_THAT(Seqs(ListEvents("r-1", 0, 100)), ElementsAre(1u, 2u, 3u, 4u, 5u));
  EXPECT_THAT(Seqs(ListEvents("r-1", 2, 2)), ElementsAre(3u, 4u));
  EXPECT_THAT(Seqs(ListEvents("r-1", 4, 10)), ElementsAre(5u));
  EXPECT_THAT(Seqs(ListEvents("r-1", 0, 1)), ElementsAre(1u));
  EXPECT_THAT(ListEvents("r-1", 5, 10), IsEmpty());
  EXPECT_THAT(ListEvents("r-1", 0, 0), IsEmpty());
  EXPECT_THAT(ListEvents("r-1", std::numeric_limits<std::uint64_t>::max(), 10), IsEmpty());
  EXPECT_THAT(Seqs(ListEvents("r-1", 3, std::numeric_limits<std::size_t>::max())),
              ElementsAre(4u, 5u));
  std::vector<tc::RolloutEventRecord> third = ListEvents("r-1", 2, 1);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].event, Event(3).event);
}

TEST_F(SqliteStoreRollouts, UnknownRolloutIsNotFoundAndNamed) {
  OpenStore();
  Create(MakeRollout("r-1", 0));

  Status saved = store_->SaveRollout(MakeRollout("r-404", 0), Events(1, 1));
  EXPECT_EQ(saved.code(), Status::Code::kNotFound);
  EXPECT_THAT(saved.message(), HasSubstr("rollout \"r-404\" not found"));

  Result<tc::RolloutRecord> got = store_->GetRollout("r-404");
  EXPECT_EQ(got.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(got.status().message(), HasSubstr("rollout \"r-404\" not found"));

  Result<std::string> steps = store_->GetRolloutHostSteps("r-404", "web1.example.com");
  EXPECT_EQ(steps.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(steps.status().message(), HasSubstr("rollout \"r-404\" not found"));

  Result<std::vector<tc::RolloutEventRecord>> events = store_->ListRolloutEvents("r-404", 0, 10);
  EXPECT_EQ(events.status().code(), Status::Code::kNotFound);

  // A failed save created nothing.
  EXPECT_EQ(store_->GetRollout("r-404").status().code(), Status::Code::kNotFound);
  Result<std::vector<tc::RolloutRecord>> all = store_->ListRollouts(false);
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_THAT(Ids(*all), ElementsAre("r-1"));
}

TEST_F(SqliteStoreRollouts, HostOutsideTheRolloutHasNoSteps) {
  OpenStore();
  Create(MakeRollout("r-1", 0));
  Create(MakeRollout("r-2", 0), {}, {{"db1.example.com", "db-steps"}});

  Result<std::string> steps = store_->GetRolloutHostSteps("r-1", "db1.example.com");
  EXPECT_EQ(steps.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(steps.status().message(), HasSubstr("rollout \"r-1\""));
  EXPECT_THAT(steps.status().message(), HasSubstr("db1.example.com"));
  Result<std::string> other = store_->GetRolloutHostSteps("r-2", "db1.example.com");
  ASSERT_TRUE(other.ok()) << other.status().message();
  EXPECT_EQ(*other, "db-steps");
}

TEST_F(SqliteStoreRollouts, SurvivesClosingAndReopeningTheFile) {
  OpenStore();
  Create(MakeRollout("r-1", 0), Events(1, 2));
  tc::RolloutRecord saved = MakeRollout("r-1", 0);
  saved.state = "paused";
  saved.snapshot = Bytes("paused");
  ASSERT_TRUE(store_->SaveRollout(saved, Events(3, 3)).ok());
  Create(MakeRollout("r-2", 5, /*done=*/true));

  OpenStore();  // closes the first connection, then opens the file again
  Result<tc::RolloutRecord> stored = store_->GetRollout("r-1");
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  ExpectSameRollout(*stored, saved);
  std::vector<tc::RolloutEventRecord> events = ListEvents("r-1", 0, 10);
  EXPECT_THAT(Seqs(events), ElementsAre(1u, 2u, 3u));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].event, Event(3).event);
  Result<std::string> steps = store_->GetRolloutHostSteps("r-1", "web2.example.com");
  ASSERT_TRUE(steps.ok()) << steps.status().message();
  EXPECT_EQ(*steps, Bytes("steps-web2"));
  Result<std::vector<tc::RolloutRecord>> unfinished = store_->ListRollouts(true);
  ASSERT_TRUE(unfinished.ok()) << unfinished.status().message();
  EXPECT_THAT(Ids(*unfinished), ElementsAre("r-1"));
}

std::vector<std::string> HostRows(const tc::RolloutRecord& rollout) {
  std::vector<std::string> rows;
  for (const tc::RolloutHostRecord& host : rollout.hosts) {
    rows.push_back(std::to_string(host.pool) + "." + std::to_string(host.position) + "=" +
                   host.host.substr(2, host.host.find('\0', 2) - 2));
  }
  return rows;
}

TEST_F(SqliteStoreRollouts, SaveReplacesOnlyTheHostsItIsGiven) {
  OpenStore();
  tc::RolloutRecord rollout = MakeRollout("r-1", 0);
  rollout.hosts = {{1, 0, Bytes("d1")}, {0, 0, Bytes("w1")}, {0, 1, Bytes("w2")}};
  Create(rollout, Events(1, 1));

  tc::RolloutRecord saved = rollout;
  saved.snapshot = Bytes("snapshot-2");
  saved.hosts = {{0, 1, Bytes("w2-running")}};
  Status status = store_->SaveRollout(saved, Events(2, 2));
  ASSERT_TRUE(status.ok()) << status.message();

  Result<tc::RolloutRecord> stored = store_->GetRollout("r-1");
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_EQ(stored->snapshot, Bytes("snapshot-2"));
  EXPECT_THAT(HostRows(*stored), ElementsAre("0.0=w1", "0.1=w2-running", "1.0=d1"));
  Result<std::vector<tc::RolloutRecord>> listed = store_->ListRollouts(false);
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_THAT(HostRows(listed->front()), ElementsAre("0.0=w1", "0.1=w2-running", "1.0=d1"));
}

TEST_F(SqliteStoreRollouts, AHostAtANegativePositionIsRefusedAndNothingChanges) {
  OpenStore();
  tc::RolloutRecord rollout = MakeRollout("r-1", 0);
  rollout.hosts = {{0, 0, Bytes("w1")}};
  Create(rollout, Events(1, 1));

  tc::RolloutRecord saved = rollout;
  saved.state = "paused";
  saved.hosts = {{0, -1, Bytes("bad")}};
  Status status = store_->SaveRollout(saved, Events(2, 2));
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("host at pool 0, position -1"));
  tc::RolloutRecord created = MakeRollout("r-2", 1);
  created.hosts = {{-2, 0, Bytes("bad")}};
  EXPECT_EQ(store_->CreateRollout(created, {}, {}).code(), Status::Code::kInvalidArgument);

  Result<tc::RolloutRecord> stored = store_->GetRollout("r-1");
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_EQ(stored->state, "running");
  EXPECT_THAT(HostRows(*stored), ElementsAre("0.0=w1"));
  EXPECT_THAT(Seqs(ListEvents("r-1", 0, 10)), ElementsAre(1u));
  EXPECT_EQ(store_->GetRollout("r-2").status().code(), Status::Code::kNotFound);
}

TEST_F(SqliteStoreRollouts, Migration7KeepsRolloutsStoredBeforeHostsWereKeptApart) {
  const auto builtin = tc::schema::BuiltinMigrations();
  ASSERT_GE(builtin.size(), 7u);
  ASSERT_EQ(builtin[6].version, 7);
  Status migrated = tc::schema::MigrateFile(path_, builtin.first(6));
  ASSERT_TRUE(migrated.ok()) << migrated.message();
  // As a version 6 controller stored it: the whole record, no host rows.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  const int inserted = sqlite3_exec(
      db,
      "INSERT INTO rollouts(id, state, done, created_at, snapshot) "
      "VALUES ('r-1', 'running', 0, 1700000000, x'0001ff')",
      nullptr, nullptr, nullptr);
  sqlite3_close(db);
  ASSERT_EQ(inserted, SQLITE_OK);

  OpenStore();  // migrates to the newest version
  EXPECT_EQ(store_->schema_version(), builtin.back().version);
  Result<tc::RolloutRecord> stored = store_->GetRollout("r-1");
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_EQ(stored->snapshot, std::string("\0\x01\xff", 3));
  EXPECT_EQ(stored->state, "running");
  EXPECT_THAT(stored->hosts, IsEmpty());
}

TEST_F(SqliteStoreRollouts, Migration4UpgradesAVersion3Database) {
  const auto builtin = tc::schema::BuiltinMigrations();
  ASSERT_GE(builtin.size(), 4u);
  ASSERT_EQ(builtin[3].version, 4);
  Status migrated = tc::schema::MigrateFile(path_, builtin.first(3));
  ASSERT_TRUE(migrated.ok()) << migrated.message();

  OpenStore();
  EXPECT_EQ(store_->schema_version(), builtin.back().version);
  Create(MakeRollout("r-1", 0), Events(1, 1));
  EXPECT_TRUE(store_->GetRollout("r-1").ok());
}

}  // namespace
}  // namespace topos
