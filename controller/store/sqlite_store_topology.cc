// SqliteStore: published topology versions. Versions are immutable: rows of
// topology_versions are only ever inserted, never updated or deleted.
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <string_view>

#include "common/sqlite/statement.h"
#include "controller/store/sqlite_store.h"

namespace topos::controller {
namespace {

using sqlite::Statement;
using sqlite::Transaction;

constexpr std::string_view kSummaryColumns =
    "version, author, created_at, message, sha256, source_name";
constexpr std::string_view kContentColumns = ", topology_yaml, roles_yaml";

std::string SelectVersions(bool with_content) {
  std::string sql = "SELECT " + std::string(kSummaryColumns);
  if (with_content) sql += kContentColumns;
  return sql + " FROM topology_versions";
}

TopologyVersionRecord ReadVersion(const Statement& row, bool with_content) {
  TopologyVersionRecord record;
  record.version = static_cast<std::uint64_t>(row.ColumnInt(0));
  record.author = row.ColumnText(1);
  record.created_at = row.ColumnTime(2);
  record.message = row.ColumnText(3);
  record.sha256 = row.ColumnText(4);
  record.source_name = row.ColumnText(5);
  if (with_content) {
    record.topology_yaml = row.ColumnText(6);
    record.roles_yaml = row.ColumnText(7);
  }
  return record;
}

// SQLite integers are signed 64-bit.
constexpr std::uint64_t kMaxVersion =
    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// The caller holds the mutex and a transaction.
Status InsertVersionRow(sqlite3* db, std::uint64_t version, const TopologyVersionRecord& record) {
  Statement insert(db,
                   "INSERT INTO topology_versions(version, author, created_at, message, sha256, "
                   "source_name, topology_yaml, roles_yaml) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   "insert topology version " + std::to_string(version));
  insert.BindInt(1, static_cast<std::int64_t>(version))
      .BindText(2, record.author)
      .BindTime(3, record.created_at)
      .BindText(4, record.message)
      .BindText(5, record.sha256)
      .BindText(6, record.source_name)
      .BindText(7, record.topology_yaml)
      .BindText(8, record.roles_yaml);
  return insert.Run();
}

}  // namespace

Result<std::uint64_t> SqliteStore::AppendTopologyVersion(const TopologyVersionRecord& record) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  TOPOS_RETURN_IF_ERROR(transaction.Begin());
  // Under the write lock, so concurrent appends (even from another process)
  // get distinct numbers.
  Statement query(db_, "SELECT COALESCE(MAX(version), 0) FROM topology_versions",
                  "read latest topology version");
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  const std::uint64_t latest = *row ? static_cast<std::uint64_t>(query.ColumnInt(0)) : 0;
  if (latest >= kMaxVersion) {
    return Status::FailedPrecondition("topology version numbers are exhausted");
  }
  const std::uint64_t version = latest + 1;
  TOPOS_RETURN_IF_ERROR(InsertVersionRow(db_, version, record));
  TOPOS_RETURN_IF_ERROR(transaction.Commit());
  return version;
}

Result<TopologyVersionRecord> SqliteStore::GetTopologyVersion(std::uint64_t version) {
  const std::string not_found = "topology version " + std::to_string(version) + " does not exist";
  if (version == 0 || version > kMaxVersion) return Status::NotFound(not_found);
  std::lock_guard lock(mutex_);
  Statement query(db_, SelectVersions(true) + " WHERE version = ?",
                  "get topology version " + std::to_string(version));
  query.BindInt(1, static_cast<std::int64_t>(version));
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound(not_found);
  return ReadVersion(query, true);
}

Result<TopologyVersionRecord> SqliteStore::LatestTopologyVersion() {
  std::lock_guard lock(mutex_);
  Statement query(db_, SelectVersions(true) + " ORDER BY version DESC LIMIT 1",
                  "get latest topology version");
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no topology has been published yet");
  return ReadVersion(query, true);
}

Result<std::vector<TopologyVersionRecord>> SqliteStore::ListTopologyVersions(bool with_content) {
  std::lock_guard lock(mutex_);
  Statement query(db_, SelectVersions(with_content) + " ORDER BY version",
                  "list topology versions");
  std::vector<TopologyVersionRecord> versions;
  for (;;) {
    Result<bool> row = query.Next();
    if (!row.ok()) return row.status();
    if (!*row) break;
    versions.push_back(ReadVersion(query, with_content));
  }
  return versions;
}

Status SqliteStore::ImportTopologyVersions(const std::vector<TopologyVersionRecord>& versions) {
  std::set<std::uint64_t> seen;
  for (const TopologyVersionRecord& record : versions) {
    if (record.version == 0) {
      return Status::InvalidArgument("cannot import topology version 0: versions start at 1");
    }
    if (record.version > kMaxVersion) {
      return Status::InvalidArgument("cannot import topology version " +
                                     std::to_string(record.version) + ": number too large");
    }
    if (!seen.insert(record.version).second) {
      return Status::InvalidArgument("cannot import topology version " +
                                     std::to_string(record.version) + " twice");
    }
  }
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  TOPOS_RETURN_IF_ERROR(transaction.Begin());
  Statement query(db_, "SELECT EXISTS (SELECT 1 FROM topology_versions)",
                  "check for existing topology versions");
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (*row && query.ColumnInt(0) != 0) {
    return Status::FailedPrecondition(
        "the controller already has topology versions; import only into a new controller");
  }
  for (const TopologyVersionRecord& record : versions) {
    TOPOS_RETURN_IF_ERROR(InsertVersionRow(db_, record.version, record));
  }
  return transaction.Commit();
}

}  // namespace topos::controller
