// Prepared statements of one SQLite connection, kept for reuse by their SQL
// text: preparing was about 5% of the controller's CPU per enrollment and
// per certificate request, and a third of the agent's CPU per apply with
// thousands of simulated agents in one process (docs/benchmarks.md). sqlite::Statement takes a
// kept statement when one is registered for its connection and hands it
// back, reset and with its bindings cleared, when it is done.
//
// One cache per connection, registered for that connection's lifetime: the
// owner creates it after opening the connection and destroys it before
// closing it (the destructor finalizes every kept statement). At most
// `capacity` statements are kept; SQL built with a varying shape beyond
// that is prepared and finalized per use, as without the cache.
//
// Thread-safety: safe from several threads.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace topos::sqlite {

class StatementCache {
 public:
  StatementCache(sqlite3* db, std::size_t capacity = 256);
  ~StatementCache();
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  // The cache registered for `db`, or nullptr.
  static StatementCache* For(sqlite3* db);

  // A kept statement for `sql`, now the caller's (nullptr: none kept).
  sqlite3_stmt* Take(const std::string& sql);
  // Resets `statement`, clears its bindings and keeps it for `sql`; or
  // finalizes it when one is kept for `sql` already or the cache is full.
  void Give(const std::string& sql, sqlite3_stmt* statement);

  std::size_t size() const;

 private:
  sqlite3* const db_;
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, sqlite3_stmt*> kept_;
};

}  // namespace topos::sqlite
