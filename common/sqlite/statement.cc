#include "common/sqlite/statement.h"

#include <sqlite3.h>

#include <chrono>
#include <utility>

namespace topos::sqlite {

Status ErrorStatus(sqlite3* db, int rc, std::string_view operation) {
  std::string message(operation);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
    return Status::AlreadyExists(std::move(message));
  }
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return Status::Unavailable(std::move(message));
  }
  return Status::Internal(std::move(message));
}

Status Exec(sqlite3* db, const char* sql, std::string_view operation) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return ErrorStatus(db, rc, operation);
  return Status::Ok();
}

std::int64_t ToUnixSeconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

TimePoint FromUnixSeconds(std::int64_t seconds) { return TimePoint(std::chrono::seconds(seconds)); }

Statement::Statement(sqlite3* db, std::string_view sql, std::string operation)
    : db_(db), cache_(StatementCache::For(db)), operation_(std::move(operation)) {
  if (cache_ != nullptr) {
    sql_ = sql;
    stmt_ = cache_->Take(sql_);
    if (stmt_ != nullptr) return;
  }
  // A statement that will be kept tells SQLite so (it then allocates it
  // outside its small-object lookaside memory).
  const unsigned flags = cache_ != nullptr ? SQLITE_PREPARE_PERSISTENT : 0;
  const int rc =
      sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), flags, &stmt_, nullptr);
  if (rc != SQLITE_OK) status_ = ErrorStatus(db_, rc, operation_ + " (prepare)");
}

Statement::~Statement() {
  if (cache_ != nullptr && stmt_ != nullptr) {
    cache_->Give(sql_, stmt_);
  } else {
    sqlite3_finalize(stmt_);  // a no-op on nullptr
  }
}

void Statement::CheckBind(int rc, int index) {
  if (rc != SQLITE_OK && status_.ok()) {
    status_ = ErrorStatus(db_, rc, operation_ + " (bind parameter " + std::to_string(index) + ")");
  }
}

Statement& Statement::BindText(int index, std::string_view value) {
  if (status_.ok()) {
    CheckBind(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                                SQLITE_TRANSIENT),
              index);
  }
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view value) {
  if (status_.ok()) {
    // A zero-length blob still needs a non-null pointer, or SQLite binds NULL.
    static const char kEmpty = 0;
    const char* data = value.empty() ? &kEmpty : value.data();
    CheckBind(
        sqlite3_bind_blob(stmt_, index, data, static_cast<int>(value.size()), SQLITE_TRANSIENT),
        index);
  }
  return *this;
}

Statement& Statement::BindInt(int index, std::int64_t value) {
  if (status_.ok()) CheckBind(sqlite3_bind_int64(stmt_, index, value), index);
  return *this;
}

Statement& Statement::BindNull(int index) {
  if (status_.ok()) CheckBind(sqlite3_bind_null(stmt_, index), index);
  return *this;
}

Statement& Statement::BindTime(int index, TimePoint value) {
  return BindInt(index, ToUnixSeconds(value));
}

Statement& Statement::BindTime(int index, const std::optional<TimePoint>& value) {
  return value ? BindTime(index, *value) : BindNull(index);
}

Statement& Statement::BindOptionalText(int index, const std::optional<std::string>& value) {
  return value ? BindText(index, std::string_view(*value)) : BindNull(index);
}

Statement& Statement::BindOptionalBlob(int index, const std::optional<std::string>& value) {
  return value ? BindBlob(index, std::string_view(*value)) : BindNull(index);
}

Result<bool> Statement::Next() {
  if (!status_.ok()) return status_;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status error = ErrorStatus(db_, rc, operation_);
  sqlite3_reset(stmt_);
  return error;
}

Status Statement::Run() {
  if (!status_.ok()) return status_;
  int rc;
  while ((rc = sqlite3_step(stmt_)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) {
    Status error = ErrorStatus(db_, rc, operation_);
    sqlite3_reset(stmt_);
    return error;
  }
  changes_ = sqlite3_changes(db_);
  sqlite3_reset(stmt_);
  return Status::Ok();
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);  // after the pointer, per SQLite docs
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

std::string Statement::ColumnBlob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (blob == nullptr) return {};
  return std::string(static_cast<const char*>(blob), static_cast<std::size_t>(size));
}

TimePoint Statement::ColumnTime(int column) const { return FromUnixSeconds(ColumnInt(column)); }

std::optional<TimePoint> Statement::ColumnOptionalTime(int column) const {
  if (IsNull(column)) return std::nullopt;
  return ColumnTime(column);
}

Transaction::~Transaction() {
  // ROLLBACK can only fail if there is no transaction left to undo.
  if (active_) (void)Statement(db_, "ROLLBACK", "roll back transaction").Run();
}

Status Transaction::Begin() {
  TOPOS_RETURN_IF_ERROR(Statement(db_, "BEGIN IMMEDIATE", "begin transaction").Run());
  active_ = true;
  return Status::Ok();
}

Status Transaction::Commit() {
  TOPOS_RETURN_IF_ERROR(Statement(db_, "COMMIT", "commit transaction").Run());
  active_ = false;
  return Status::Ok();
}

}  // namespace topos::sqlite
