// Private to controller/store: opening a SQLite database file and bringing
// its schema up to date with numbered migrations.
//
// Each migration is applied once, in its own transaction, and recorded in
// schema_migrations(version, applied_at). A database that records a version
// newer than the list knows is refused, so an old controller never writes a
// schema it does not understand.
#pragma once

#include <filesystem>
#include <span>

#include "common/status.h"

struct sqlite3;

namespace topos::controller::schema {

struct Migration {
  int version;      // 1, 2, 3, ... in order, never reused or edited once released
  const char* sql;  // one or more statements, constant (no values)
};

// The schema this binary knows, in order.
std::span<const Migration> BuiltinMigrations();

// Opens (creating if needed, mode 0600) the database at `path`, configures
// the connection (WAL, foreign keys, synchronous=NORMAL, busy timeout) and
// applies the missing `migrations`. On success the caller owns the returned
// connection and closes it with sqlite3_close_v2. FailedPrecondition if the
// database schema is newer than `migrations`.
Result<sqlite3*> OpenAndMigrate(const std::filesystem::path& path,
                                std::span<const Migration> migrations);

// OpenAndMigrate then close; for tests and tooling (e.g. to simulate a
// database written by a newer controller).
Status MigrateFile(const std::filesystem::path& path, std::span<const Migration> migrations);

// The highest version recorded in schema_migrations (0 if none).
Result<int> CurrentSchemaVersion(sqlite3* db);

}  // namespace topos::controller::schema
