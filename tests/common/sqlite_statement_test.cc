// The SQLite helpers both stores use: the prepared-statement cache reuses
// statements with fresh bindings, never leaves one mid-step, stays bounded
// and finalizes everything before the connection closes; a transaction is
// rolled back unless committed, and its BEGIN and COMMIT are parsed once.
#include "common/sqlite/statement_cache.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <optional>
#include <string>
#include <vector>

#include "common/sqlite/statement.h"

namespace topos::sqlite {
namespace {

class StatementCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sqlite3_open(":memory:", &db_), SQLITE_OK);
    ASSERT_TRUE(Exec(db_, "CREATE TABLE t(k TEXT PRIMARY KEY, a TEXT, b TEXT)", "create").ok());
  }
  void TearDown() override {
    // sqlite3_close (not _v2) fails while any statement is unfinalized.
    EXPECT_EQ(sqlite3_close(db_), SQLITE_OK) << "a statement outlived its cache";
  }

  // Statements of db_ that are mid-step (would hold a read transaction).
  int BusyStatements() const {
    int busy = 0;
    for (sqlite3_stmt* s = sqlite3_next_stmt(db_, nullptr); s != nullptr;
         s = sqlite3_next_stmt(db_, s)) {
      busy += sqlite3_stmt_busy(s) != 0;
    }
    return busy;
  }

  Status Insert(const std::string& k, const std::string& a, const std::optional<std::string>& b) {
    Statement insert(db_, "INSERT INTO t(k, a, b) VALUES (?, ?, ?)", "insert " + k);
    insert.BindText(1, k).BindText(2, a);
    if (b) insert.BindText(3, *b);  // left unbound otherwise: must be NULL
    return insert.Run();
  }

  sqlite3* db_ = nullptr;
};

TEST_F(StatementCacheTest, ReusesAStatementWithFreshBindings) {
  StatementCache cache(db_);
  ASSERT_TRUE(Insert("one", "a1", "b1").ok());
  EXPECT_EQ(cache.size(), 1u);
  // The kept statement is reused; its old third binding must not carry over.
  ASSERT_TRUE(Insert("two", "a2", std::nullopt).ok());
  EXPECT_EQ(cache.size(), 1u);

  Statement query(db_, "SELECT a, b FROM t WHERE k = ?", "get");
  query.BindText(1, "two");
  auto row = query.Next();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(query.ColumnText(0), "a2");
  EXPECT_TRUE(query.IsNull(1));
}

TEST_F(StatementCacheTest, AStatementLeftAfterItsFirstRowIsNotLeftMidStep) {
  StatementCache cache(db_);
  ASSERT_TRUE(Insert("one", "a", "b").ok());
  ASSERT_TRUE(Insert("two", "a", "b").ok());
  {
    Statement query(db_, "SELECT k FROM t ORDER BY k", "list");
    auto row = query.Next();
    ASSERT_TRUE(row.ok() && *row);
    EXPECT_EQ(BusyStatements(), 1);
  }
  EXPECT_EQ(BusyStatements(), 0);
  Statement again(db_, "SELECT k FROM t ORDER BY k", "list");
  auto rows = CollectRows(again, [](const Statement& r) { return r.ColumnText(0); });
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, (std::vector<std::string>{"one", "two"}));  // from the start again
}

TEST_F(StatementCacheTest, TwoLiveStatementsOfOneSqlAreIndependent) {
  StatementCache cache(db_);
  ASSERT_TRUE(Insert("one", "a", "b").ok());
  {
    Statement outer(db_, "SELECT a FROM t WHERE k = ?", "outer");
    Statement inner(db_, "SELECT a FROM t WHERE k = ?", "inner");
    outer.BindText(1, "one");
    inner.BindText(1, "missing");
    auto outer_row = outer.Next();
    auto inner_row = inner.Next();
    ASSERT_TRUE(outer_row.ok() && inner_row.ok());
    EXPECT_TRUE(*outer_row);
    EXPECT_FALSE(*inner_row);
  }
  EXPECT_EQ(cache.size(), 2u);  // the insert's and one of the two selects'
}

TEST_F(StatementCacheTest, KeepsNoMoreThanItsCapacity) {
  StatementCache cache(db_, 1);
  ASSERT_TRUE(Insert("one", "a", "b").ok());
  Statement count(db_, "SELECT COUNT(*) FROM t", "count");
  ASSERT_TRUE(count.Next().ok());
  { Statement other(db_, "SELECT k FROM t", "keys"); }
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(StatementCacheTest, WithoutARegisteredCacheNothingIsKept) {
  ASSERT_EQ(StatementCache::For(db_), nullptr);
  ASSERT_TRUE(Insert("one", "a", "b").ok());
  EXPECT_EQ(sqlite3_next_stmt(db_, nullptr), nullptr);
  {
    StatementCache cache(db_);
    EXPECT_EQ(StatementCache::For(db_), &cache);
  }
  EXPECT_EQ(StatementCache::For(db_), nullptr);
}

TEST_F(StatementCacheTest, AFailedPrepareIsReportedAndNotKept) {
  StatementCache cache(db_);
  Statement bad(db_, "SELECT nope FROM missing_table", "read the missing table");
  auto row = bad.Next();
  ASSERT_FALSE(row.ok());
  EXPECT_NE(row.status().message().find("read the missing table (prepare)"), std::string::npos);
  EXPECT_EQ(cache.size(), 0u);
}

using TransactionTest = StatementCacheTest;

TEST_F(TransactionTest, IsRolledBackUnlessCommitted) {
  {
    Transaction transaction(db_);
    ASSERT_TRUE(transaction.Begin().ok());
    ASSERT_TRUE(Insert("lost", "a", "b").ok());
  }
  EXPECT_NE(sqlite3_get_autocommit(db_), 0) << "the transaction was left open";
  {
    Transaction transaction(db_);
    ASSERT_TRUE(transaction.Begin().ok());
    ASSERT_TRUE(Insert("kept", "a", "b").ok());
    ASSERT_TRUE(transaction.Commit().ok());
  }
  Statement keys(db_, "SELECT k FROM t", "keys");
  auto rows = CollectRows(keys, [](const Statement& r) { return r.ColumnText(0); });
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, std::vector<std::string>{"kept"});
}

TEST_F(TransactionTest, ParsesBeginCommitAndRollbackOnceWithACache) {
  StatementCache cache(db_);
  for (int round = 0; round < 3; ++round) {
    Transaction committed(db_);
    ASSERT_TRUE(committed.Begin().ok());
    ASSERT_TRUE(Insert("k" + std::to_string(round), "a", "b").ok());
    ASSERT_TRUE(committed.Commit().ok());
    Transaction abandoned(db_);
    ASSERT_TRUE(abandoned.Begin().ok());
  }
  // The insert, BEGIN IMMEDIATE, COMMIT and ROLLBACK: one statement each.
  EXPECT_EQ(cache.size(), 4u);
  int prepared = 0;
  for (sqlite3_stmt* s = sqlite3_next_stmt(db_, nullptr); s != nullptr;
       s = sqlite3_next_stmt(db_, s)) {
    ++prepared;
  }
  EXPECT_EQ(prepared, 4);
}

}  // namespace
}  // namespace topos::sqlite
