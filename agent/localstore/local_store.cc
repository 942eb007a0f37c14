#include "agent/localstore/local_store.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "certs/crypto.h"
#include "common/file_io.h"

namespace topos::agent {
namespace {

constexpr int kSchemaVersion = 1;
constexpr int kVersionsKept = 5;
constexpr std::size_t kMaxConfigBytes = 1 << 20;
constexpr int kBusyTimeoutMs = 5000;
constexpr const char* kDatabaseFile = "local.db";

Status SqliteError(sqlite3* db, int rc, std::string_view operation) {
  std::string message = "local store: " + std::string(operation) + ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return Status::Unavailable(std::move(message));
  }
  return Status::Internal(std::move(message));
}

// Constant SQL run once per opening (pragmas, schema); the rest goes through
// Statement.
Status Exec(sqlite3* db, const char* sql, std::string_view operation) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : SqliteError(db, rc, operation);
}

}  // namespace

// The store's statements, prepared on first use and kept as long as its
// connection: parsing them again for every apply (SQLite's parser allocates
// under a process-wide mutex) was a third of an apply's CPU with 2,000
// simulated agents in one process.
class PreparedStatements {
 public:
  explicit PreparedStatements(sqlite3* db) : db_(db) {}
  ~PreparedStatements() {
    for (auto& [sql, statement] : by_sql_) sqlite3_finalize(statement);
  }
  PreparedStatements(const PreparedStatements&) = delete;
  PreparedStatements& operator=(const PreparedStatements&) = delete;

  sqlite3* db() const { return db_; }

  // `sql` is a string literal: its address is the key. One statement per
  // SQL text, so a text is in use at most once at a time (no store
  // operation nests two uses of the same one).
  Result<sqlite3_stmt*> Get(const char* sql, std::string_view operation) {
    auto it = by_sql_.find(sql);
    if (it != by_sql_.end()) return it->second;
    sqlite3_stmt* statement = nullptr;
    const int rc =
        sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(statement);
      return SqliteError(db_, rc, operation);
    }
    by_sql_.emplace(sql, statement);
    return statement;
  }

 private:
  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> by_sql_;
};

namespace {

// One use of a prepared statement, reset (its bindings cleared, any read it
// holds ended) when done. A failed prepare or bind is remembered and
// returned by the next Step().
class Statement {
 public:
  Statement(PreparedStatements& statements, const char* sql, std::string operation)
      : db_(statements.db()), operation_(std::move(operation)) {
    auto prepared = statements.Get(sql, operation_);
    if (prepared.ok()) {
      stmt_ = *prepared;
    } else {
      status_ = prepared.status();
    }
  }
  ~Statement() {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& BindInt(int index, std::int64_t value) {
    if (status_.ok()) Check(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }
  Statement& BindText(int index, std::string_view value) {
    if (status_.ok()) {
      Check(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                              SQLITE_TRANSIENT));
    }
    return *this;
  }
  Statement& BindBlob(int index, std::string_view value) {
    static const char kEmpty = 0;
    if (status_.ok()) {
      Check(sqlite3_bind_blob(stmt_, index, value.empty() ? &kEmpty : value.data(),
                              static_cast<int>(value.size()), SQLITE_TRANSIENT));
    }
    return *this;
  }

  // True when a row is available, false when done.
  Result<bool> Step() {
    if (!status_.ok()) return status_;
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(db_, rc, operation_);
  }
  // Steps to completion.
  Status Run() {
    for (;;) {
      auto row = Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::Ok();
    }
  }

  std::int64_t ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string ColumnText(int column) const {
    const auto* text = sqlite3_column_text(stmt_, column);
    const int size = sqlite3_column_bytes(stmt_, column);
    return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text), size);
  }
  std::string ColumnBlob(int column) const {
    const void* blob = sqlite3_column_blob(stmt_, column);
    const int size = sqlite3_column_bytes(stmt_, column);
    return blob == nullptr ? std::string() : std::string(static_cast<const char*>(blob), size);
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK) status_ = SqliteError(db_, rc, operation_ + " (bind)");
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string operation_;
  Status status_;
};

// BEGIN IMMEDIATE ... COMMIT; rolled back on destruction unless committed.
class Transaction {
 public:
  explicit Transaction(PreparedStatements& statements) : statements_(statements) {}
  ~Transaction() {
    if (active_) (void)Statement(statements_, "ROLLBACK", "roll back").Run();
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status Begin() {
    TOPOS_RETURN_IF_ERROR(
        Statement(statements_, "BEGIN IMMEDIATE", "begin transaction").Run());
    active_ = true;
    return Status::Ok();
  }
  Status Commit() {
    TOPOS_RETURN_IF_ERROR(Statement(statements_, "COMMIT", "commit").Run());
    active_ = false;
    return Status::Ok();
  }

 private:
  PreparedStatements& statements_;
  bool active_ = false;
};

Result<std::string> ToJson(const topos::v1::HostConfig& config) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(config, &json, options);
  if (!status.ok()) {
    return Status::Internal("cannot convert the configuration to JSON: " +
                            std::string(status.message()));
  }
  return json;
}

Result<std::string> Serialize(const topos::v1::HostConfig& config) {
  if (config.ByteSizeLong() > kMaxConfigBytes) {
    return Status::InvalidArgument("configuration version " + std::to_string(config.version()) +
                                   " is larger than 1 MiB; refused");
  }
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    config.SerializeToCodedStream(&coded);
    if (coded.HadError()) return Status::Internal("cannot serialize the configuration");
  }
  return bytes;
}

// Creates the database file with mode 0600 (or forces it on an existing one)
// before SQLite opens it; SQLite gives its journal the same mode.
Status CreatePrivateFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Internal("local store: cannot open " + path.string() + ": " +
                            std::strerror(errno));
  }
  const int rc = ::fchmod(fd, 0600);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) {
    return Status::Internal("local store: cannot set mode 0600 on " + path.string() + ": " +
                            std::strerror(saved));
  }
  return Status::Ok();
}

Status CreateSchema(PreparedStatements& statements) {
  sqlite3* db = statements.db();
  Transaction txn(statements);
  TOPOS_RETURN_IF_ERROR(txn.Begin());
  TOPOS_RETURN_IF_ERROR(Exec(db,
                             "CREATE TABLE IF NOT EXISTS meta("
                             "  key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                             "CREATE TABLE IF NOT EXISTS config_versions("
                             "  version INTEGER PRIMARY KEY,"
                             "  applied_at INTEGER NOT NULL,"
                             "  content BLOB NOT NULL,"
                             "  content_sha256 TEXT NOT NULL);",
                             "create schema"));
  std::optional<std::string> found;
  {
    Statement select(statements, "SELECT value FROM meta WHERE key = 'schema_version'",
                     "read schema version");
    auto row = select.Step();
    if (!row.ok()) return row.status();
    if (*row) found = select.ColumnText(0);
  }
  if (found) {
    if (*found != std::to_string(kSchemaVersion)) {
      return Status::FailedPrecondition(
          "local store: schema version " + *found + " is not supported by this agent (expects " +
          std::to_string(kSchemaVersion) + "); upgrade the agent or remove the store");
    }
  } else {
    TOPOS_RETURN_IF_ERROR(Statement(statements,
                                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                                    "write schema version")
                              .BindText(1, std::to_string(kSchemaVersion))
                              .Run());
  }
  return txn.Commit();
}

}  // namespace

void LocalStore::DatabaseCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

LocalStore::LocalStore(std::filesystem::path dir, Database db)
    : dir_(std::move(dir)),
      db_(std::move(db)),
      statements_(std::make_unique<PreparedStatements>(db_.get())) {}

LocalStore::~LocalStore() = default;

Result<LocalStore::Database> LocalStore::OpenDatabase(const std::filesystem::path& dir) {
  const std::filesystem::path db_path = dir / kDatabaseFile;
  sqlite3* handle = nullptr;
  const int rc = sqlite3_open_v2(db_path.c_str(), &handle, SQLITE_OPEN_READWRITE, nullptr);
  Database db(handle);  // owns even a failed handle
  if (rc != SQLITE_OK) return SqliteError(db.get(), rc, "open " + db_path.string());
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  TOPOS_RETURN_IF_ERROR(Exec(db.get(), "PRAGMA synchronous=FULL", "set synchronous"));
  // A rollback journal truncated after each commit, not WAL: applies are
  // rare and small, and WAL costs an -shm index mapped per opening and a
  // checkpoint per closing (when the store was opened per operation, 61% of
  // an apply's CPU). Truncating rather than deleting keeps the journal's inode
  // (on ext4, a new file just after a deletion searches the inode bitmap).
  // 2,000 simulated agents applying a publish (scripts/bench-fleet.sh, on
  // disk): WAL 5.8-6.4 s, DELETE 4.4-4.7 s, PERSIST 5.1-5.4 s, TRUNCATE
  // 3.8-4.4 s. Setting it also converts a store an older agent left in WAL.
  TOPOS_RETURN_IF_ERROR(Exec(db.get(), "PRAGMA journal_mode=TRUNCATE", "set the journal mode"));
  return db;
}

Result<std::unique_ptr<LocalStore>> LocalStore::Open(const std::filesystem::path& state_dir) {
  const std::filesystem::path dir = state_dir / "store";
  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(dir).WithContext("local store"));
  TOPOS_RETURN_IF_ERROR(CreatePrivateFile(dir / kDatabaseFile));
  auto db = OpenDatabase(dir);
  if (!db.ok()) return db.status();
  std::unique_ptr<LocalStore> store(new LocalStore(dir, std::move(*db)));
  {
    TOPOS_RETURN_IF_ERROR(CreateSchema(*store->statements_));
    Statement latest(*store->statements_, "SELECT MAX(version) FROM config_versions",
                     "read latest version");
    auto row = latest.Step();
    if (!row.ok()) return row.status();
    store->version_ = static_cast<std::uint64_t>(latest.ColumnInt(0));  // NULL reads as 0
  }

  if (store->version_ == 0) return store;
  auto current = store->Current();
  if (!current.ok()) return current.status();
  // Repair the snapshot if a crash came between the commit and its write,
  // or if it was damaged or removed.
  auto expected = ToJson(*current);
  if (!expected.ok()) return expected.status();
  auto on_disk = ReadFile(store->snapshot_path(), kMaxConfigBytes * 4);
  if (!on_disk.ok() || *on_disk != *expected) {
    TOPOS_RETURN_IF_ERROR(store->WriteSnapshot(*current));
  }
  return store;
}

std::filesystem::path LocalStore::snapshot_path() const { return dir_ / "current.json"; }

Result<topos::v1::HostConfig> LocalStore::Current() const {
  if (version_ == 0) return Status::NotFound("no configuration applied yet");
  if (current_) return *current_;
  Statement select(*statements_, "SELECT content FROM config_versions WHERE version = ?",
                   "read current configuration");
  select.BindInt(1, static_cast<std::int64_t>(version_));
  auto row = select.Step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return Status::Internal("local store: version " + std::to_string(version_) +
                            " is missing from the database");
  }
  topos::v1::HostConfig config;
  if (!config.ParseFromString(select.ColumnBlob(0))) {
    return Status::Internal("local store: version " + std::to_string(version_) +
                            " is damaged (cannot parse); a resync from the controller repairs it");
  }
  current_ = config;
  return config;
}

Status LocalStore::Apply(const topos::v1::HostConfig& config, const std::string& host_fqdn) {
  const std::string name = "configuration version " + std::to_string(config.version());
  if (config.host_fqdn() != host_fqdn) {
    return Status::InvalidArgument(name + " is for host \"" + config.host_fqdn() +
                                   "\", not this host \"" + host_fqdn + "\"; refused");
  }
  if (config.version() == 0) {
    return Status::InvalidArgument("configuration version 0 is not a published version; refused");
  }
  if (config.version() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return Status::InvalidArgument(name + " is out of range; refused");
  }
  if (config.version() < version_) {
    return Status::FailedPrecondition(name + " is older than the applied version " +
                                      std::to_string(version_) + "; stale push refused");
  }
  auto bytes = Serialize(config);
  if (!bytes.ok()) return bytes.status();
  const std::string sha256 = topos::certs::Sha256Hex(*bytes);
  const auto version = static_cast<std::int64_t>(config.version());

  if (config.version() == version_) {
    Statement select(*statements_, "SELECT content_sha256 FROM config_versions WHERE version = ?",
                     "read applied configuration");
    select.BindInt(1, version);
    auto row = select.Step();
    if (!row.ok()) return row.status();
    if (*row && select.ColumnText(0) == sha256) return Status::Ok();  // nothing to do
  }

  Transaction txn(*statements_);
  TOPOS_RETURN_IF_ERROR(txn.Begin());
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  TOPOS_RETURN_IF_ERROR(
      Statement(*statements_,
                "INSERT OR REPLACE INTO config_versions(version, applied_at, content, "
                "content_sha256) VALUES (?, ?, ?, ?)",
                "apply " + name)
          .BindInt(1, version)
          .BindInt(2, now)
          .BindBlob(3, *bytes)
          .BindText(4, sha256)
          .Run());
  TOPOS_RETURN_IF_ERROR(Statement(*statements_,
                                  "DELETE FROM config_versions WHERE version NOT IN "
                                  "(SELECT version FROM config_versions ORDER BY version DESC "
                                  "LIMIT ?)",
                                  "prune old versions")
                            .BindInt(1, kVersionsKept)
                            .Run());
  TOPOS_RETURN_IF_ERROR(txn.Commit());
  version_ = config.version();
  current_ = config;
  // A crash from here on leaves a stale snapshot that Open() rewrites.
  return WriteSnapshot(config);
}

Status LocalStore::WriteSnapshot(const topos::v1::HostConfig& config) const {
  auto json = ToJson(config);
  if (!json.ok()) return json.status();
  return WriteFileAtomically(snapshot_path(), *json, 0644)
      .WithContext("local store: write " + snapshot_path().string());
}

std::string HostConfigToJson(const topos::v1::HostConfig& config) {
  auto json = ToJson(config);
  return json.ok() ? *json : std::string();
}

}  // namespace topos::agent
