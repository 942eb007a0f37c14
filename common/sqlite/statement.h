// Small RAII helpers over the SQLite C API, shared by the controller's store
// and the agent's local store.
//
// Statement is one use of a prepared sqlite3_stmt, taken from the
// connection's StatementCache when one is registered. Errors are deferred: a
// failed prepare or bind is remembered and returned by the next
// Next()/Run(), so call sites read as one chain of binds followed by one
// status check. Transaction is BEGIN IMMEDIATE ... COMMIT, rolled back on
// destruction unless committed.
//
// Thread-safety: none; one thread uses a connection at a time (the
// controller's store holds its mutex, the agent's store has one owner).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/sqlite/statement_cache.h"

struct sqlite3;
struct sqlite3_stmt;

namespace topos::sqlite {

using TimePoint = std::chrono::system_clock::time_point;

// Maps a SQLite result code to a Status whose message is
// "<operation>: <SQLite's message>". A primary-key or unique violation is
// AlreadyExists, a busy/locked database Unavailable, anything else Internal.
Status ErrorStatus(sqlite3* db, int rc, std::string_view operation);

// Runs constant SQL without parameters (pragmas, schema, migrations).
// Never pass values here: use Statement and bind them.
Status Exec(sqlite3* db, const char* sql, std::string_view operation);

// Times are stored as integer unix seconds (sub-second parts are dropped).
std::int64_t ToUnixSeconds(TimePoint t);
TimePoint FromUnixSeconds(std::int64_t seconds);

// `s` in double quotes, for messages that name a key.
inline std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

class Statement {
 public:
  // Prepares `sql`, or takes it from the connection's StatementCache when
  // one is registered; `operation` names what the caller does, for messages.
  Statement(sqlite3* db, std::string_view sql, std::string operation);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite. Values are copied.
  Statement& BindText(int index, std::string_view value);
  Statement& BindBlob(int index, std::string_view value);  // bytes, may hold NUL
  Statement& BindInt(int index, std::int64_t value);
  Statement& BindNull(int index);
  Statement& BindTime(int index, TimePoint value);
  Statement& BindTime(int index, const std::optional<TimePoint>& value);            // NULL if empty
  Statement& BindOptionalText(int index, const std::optional<std::string>& value);  // NULL if empty
  Statement& BindOptionalBlob(int index, const std::optional<std::string>& value);  // NULL if empty

  // Steps once: true when a row is available, false when done.
  Result<bool> Next();
  // Steps to completion and resets, keeping the bindings, so the statement
  // can be bound again and rerun. changes() then tells the rows touched.
  Status Run();
  int changes() const { return changes_; }

  // Columns are 0-based, valid after Next() returned true.
  bool IsNull(int column) const;
  std::int64_t ColumnInt(int column) const;
  std::string ColumnText(int column) const;
  std::string ColumnBlob(int column) const;
  TimePoint ColumnTime(int column) const;
  std::optional<TimePoint> ColumnOptionalTime(int column) const;

 private:
  void CheckBind(int rc, int index);

  sqlite3* db_;
  StatementCache* cache_;  // the connection's, or nullptr: prepared per use
  std::string sql_;        // the cache's key, when there is a cache
  sqlite3_stmt* stmt_ = nullptr;
  std::string operation_;
  Status status_;  // first prepare/bind error
  int changes_ = 0;
};

// Steps `query` to its end and returns `read(query)` for each row, in the
// order SQLite returns them. `read` sees the current row and returns a value
// (not a Result). The first step error (including a deferred prepare or bind
// error) is returned as is and the rows read before it are dropped.
template <typename Read>
auto CollectRows(Statement& query, Read read)
    -> Result<std::vector<std::decay_t<std::invoke_result_t<Read&, const Statement&>>>> {
  std::vector<std::decay_t<std::invoke_result_t<Read&, const Statement&>>> rows;
  for (;;) {
    Result<bool> row = query.Next();
    if (!row.ok()) return row.status();
    if (!*row) return rows;
    rows.push_back(read(std::as_const(query)));
  }
}

// BEGIN, COMMIT and ROLLBACK go through Statement, so a connection with a
// StatementCache parses them once (parsing them per transaction was part of
// the agent's apply cost, docs/benchmarks.md).
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction();  // rolls back unless Commit() succeeded
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status Begin();  // BEGIN IMMEDIATE: takes the write lock up front
  Status Commit();

 private:
  sqlite3* db_;
  bool active_ = false;
};

}  // namespace topos::sqlite
