// SqliteStore: the artifact index. Rows are keyed by (service, version) and
// never change once inserted: a second push of the same digest is a no-op,
// a different digest is refused.
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "common/sqlite/statement.h"
#include "controller/store/sqlite_store.h"

namespace topos::controller {
namespace {

using sqlite::Quoted;
using sqlite::Statement;
using sqlite::Transaction;

constexpr std::string_view kSelectArtifacts =
    "SELECT service, version, sha256, size, file_name, pushed_at, pushed_by FROM artifacts";

ArtifactRecord ReadArtifact(const Statement& row) {
  ArtifactRecord record;
  record.service = row.ColumnText(0);
  record.version = row.ColumnText(1);
  record.sha256 = row.ColumnText(2);
  record.size = static_cast<std::uint64_t>(row.ColumnInt(3));
  record.file_name = row.ColumnText(4);
  record.pushed_at = row.ColumnTime(5);
  record.pushed_by = row.ColumnText(6);
  return record;
}

std::string Describe(const std::string& service, const std::string& version) {
  return "service " + Quoted(service) + " version " + Quoted(version);
}

}  // namespace

Status SqliteStore::InsertArtifact(const ArtifactRecord& artifact) {
  // SQLite integers are signed 64-bit.
  if (artifact.size > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return Status::InvalidArgument("artifact size " + std::to_string(artifact.size) +
                                   " is too large to record");
  }
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  TOPOS_RETURN_IF_ERROR(transaction.Begin());
  Statement query(db_, "SELECT sha256 FROM artifacts WHERE service = ? AND version = ?",
                  "look up artifact for " + Describe(artifact.service, artifact.version));
  query.BindText(1, artifact.service).BindText(2, artifact.version);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (*row) {
    const std::string existing = query.ColumnText(0);
    if (existing == artifact.sha256) return Status::Ok();  // idempotent push
    return Status::AlreadyExists("an artifact for " +
                                 Describe(artifact.service, artifact.version) +
                                 " is already stored with sha256 " + existing + " (pushed: " +
                                 artifact.sha256 + "); push it under a new version");
  }
  Statement insert(db_,
                   "INSERT INTO artifacts(service, version, sha256, size, file_name, pushed_at, "
                   "pushed_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   "insert artifact for " + Describe(artifact.service, artifact.version));
  insert.BindText(1, artifact.service)
      .BindText(2, artifact.version)
      .BindText(3, artifact.sha256)
      .BindInt(4, static_cast<std::int64_t>(artifact.size))
      .BindText(5, artifact.file_name)
      .BindTime(6, artifact.pushed_at)
      .BindText(7, artifact.pushed_by);
  TOPOS_RETURN_IF_ERROR(insert.Run());
  return transaction.Commit();
}

Result<ArtifactRecord> SqliteStore::GetArtifact(const std::string& service,
                                                const std::string& version) {
  std::lock_guard lock(mutex_);
  Statement query(db_, std::string(kSelectArtifacts) + " WHERE service = ? AND version = ?",
                  "get artifact for " + Describe(service, version));
  query.BindText(1, service).BindText(2, version);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no artifact for " + Describe(service, version));
  return ReadArtifact(query);
}

Result<ArtifactRecord> SqliteStore::GetArtifactByDigest(const std::string& sha256) {
  std::lock_guard lock(mutex_);
  // The same bytes may be recorded under several versions; the first push wins.
  Statement query(db_,
                  std::string(kSelectArtifacts) +
                      " WHERE sha256 = ? ORDER BY pushed_at, service, version LIMIT 1",
                  "get artifact sha256:" + sha256);
  query.BindText(1, sha256);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no artifact with sha256 " + sha256 + " has been pushed");
  return ReadArtifact(query);
}

Result<std::vector<ArtifactRecord>> SqliteStore::ListArtifacts(const std::string& service) {
  std::lock_guard lock(mutex_);
  std::string sql(kSelectArtifacts);
  if (!service.empty()) sql += " WHERE service = ?";
  sql += " ORDER BY service, pushed_at, version";
  Statement query(db_, sql, "list artifacts");
  if (!service.empty()) query.BindText(1, service);
  return sqlite::CollectRows(query, ReadArtifact);
}

}  // namespace topos::controller
