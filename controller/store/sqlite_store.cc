// SqliteStore: connection lifetime, tokens and operators. Enrollment,
// certificates and hosts are in sqlite_store_hosts.cc.
#include "controller/store/sqlite_store.h"

#include <sqlite3.h>

#include <chrono>
#include <string_view>
#include <utility>

#include "controller/store/migrations.h"
#include "common/sqlite/statement.h"
#include "common/sqlite/statement_cache.h"

namespace topos::controller {
namespace {

using sqlite::Quoted;
using sqlite::Statement;
using sqlite::Transaction;

constexpr std::string_view kTokenColumns =
    "id, secret_hash, host_fqdn, created_at, expires_at, used_at, revoked_at, created_by";

TokenRecord ReadToken(const Statement& row) {
  TokenRecord token;
  token.id = row.ColumnText(0);
  token.secret_hash = row.ColumnText(1);
  token.host_fqdn = row.ColumnText(2);
  token.created_at = row.ColumnTime(3);
  token.expires_at = row.ColumnTime(4);
  token.used_at = row.ColumnOptionalTime(5);
  token.revoked_at = row.ColumnOptionalTime(6);
  token.created_by = row.ColumnText(7);
  return token;
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::filesystem::path& path) {
  Result<sqlite3*> db = schema::OpenAndMigrate(path, schema::BuiltinMigrations());
  if (!db.ok()) return db.status();
  return std::unique_ptr<SqliteStore>(new SqliteStore(*db));
}

SqliteStore::SqliteStore(sqlite3* db)
    : db_(db), statements_(std::make_unique<sqlite::StatementCache>(db)) {}

SqliteStore::~SqliteStore() {
  statements_.reset();  // finalizes the kept statements, so the close is immediate
  sqlite3_close_v2(db_);
}

int SqliteStore::schema_version() const {
  std::lock_guard lock(mutex_);
  Result<int> version = schema::CurrentSchemaVersion(db_);
  return version.ok() ? *version : 0;
}

Status SqliteStore::InsertToken(const TokenRecord& token) {
  std::lock_guard lock(mutex_);
  Statement insert(db_,
                   "INSERT INTO tokens(id, secret_hash, host_fqdn, created_at, expires_at, "
                   "used_at, revoked_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   "insert token " + Quoted(token.id));
  insert.BindText(1, token.id)
      .BindText(2, token.secret_hash)
      .BindText(3, token.host_fqdn)
      .BindTime(4, token.created_at)
      .BindTime(5, token.expires_at)
      .BindTime(6, token.used_at)
      .BindTime(7, token.revoked_at)
      .BindText(8, token.created_by);
  return insert.Run();
}

Result<TokenRecord> SqliteStore::GetToken(const std::string& id) {
  std::lock_guard lock(mutex_);
  Statement query(db_, "SELECT " + std::string(kTokenColumns) + " FROM tokens WHERE id = ?",
                  "get token " + Quoted(id));
  query.BindText(1, id);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no token with id " + Quoted(id));
  return ReadToken(query);
}

Result<std::vector<TokenRecord>> SqliteStore::ListTokens() {
  std::lock_guard lock(mutex_);
  Statement query(
      db_,
      "SELECT " + std::string(kTokenColumns) + " FROM tokens ORDER BY created_at DESC, rowid DESC",
      "list tokens");
  return sqlite::CollectRows(query, ReadToken);
}

Status SqliteStore::RevokeToken(const std::string& id, TimePoint at) {
  std::lock_guard lock(mutex_);
  const std::string operation = "revoke token " + Quoted(id);
  Transaction transaction(db_);
  TOPOS_RETURN_IF_ERROR(transaction.Begin());
  Statement query(db_,
                  "SELECT used_at IS NOT NULL, revoked_at IS NOT NULL FROM tokens WHERE id = ?",
                  operation);
  query.BindText(1, id);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no token with id " + Quoted(id));
  if (query.ColumnInt(0) != 0) {
    return Status::FailedPrecondition("token " + Quoted(id) + " already used");
  }
  if (query.ColumnInt(1) != 0) return Status::Ok();  // already revoked: keep the first time
  Statement update(db_, "UPDATE tokens SET revoked_at = ? WHERE id = ?", operation);
  update.BindTime(1, at).BindText(2, id);
  TOPOS_RETURN_IF_ERROR(update.Run());
  return transaction.Commit();
}

Status SqliteStore::UpsertOperator(const std::string& subject,
                                   const std::vector<std::string>& roles) {
  std::string joined;
  for (const std::string& role : roles) {
    if (role.empty() || role.find(',') != std::string::npos) {
      return Status::InvalidArgument("operator " + Quoted(subject) + ": invalid role " +
                                     Quoted(role) + " (roles are non-empty and have no comma)");
    }
    if (!joined.empty()) joined += ',';
    joined += role;
  }
  std::lock_guard lock(mutex_);
  Statement upsert(db_,
                   "INSERT INTO operators(subject, roles, created_at) VALUES (?, ?, ?) "
                   "ON CONFLICT(subject) DO UPDATE SET roles = excluded.roles",
                   "upsert operator " + Quoted(subject));
  upsert.BindText(1, subject).BindText(2, joined).BindTime(3, std::chrono::system_clock::now());
  return upsert.Run();
}

Result<std::vector<std::string>> SqliteStore::GetOperatorRoles(const std::string& subject) {
  std::lock_guard lock(mutex_);
  Statement query(db_, "SELECT roles FROM operators WHERE subject = ?",
                  "get operator " + Quoted(subject));
  query.BindText(1, subject);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no operator with subject " + Quoted(subject));
  const std::string joined = query.ColumnText(0);
  std::vector<std::string> roles;
  std::size_t start = 0;
  while (start < joined.size()) {
    std::size_t comma = joined.find(',', start);
    if (comma == std::string::npos) comma = joined.size();
    roles.push_back(joined.substr(start, comma - start));
    start = comma + 1;
  }
  return roles;
}

}  // namespace topos::controller
