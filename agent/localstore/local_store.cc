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
#include <utility>

#include "certs/crypto.h"
#include "common/file_io.h"
#include "common/sqlite/statement.h"
#include "common/sqlite/statement_cache.h"

namespace topos::agent {
namespace {

using sqlite::Exec;
using sqlite::Statement;
using sqlite::Transaction;

constexpr int kSchemaVersion = 1;
constexpr int kVersionsKept = 5;
constexpr std::size_t kMaxConfigBytes = 1 << 20;
constexpr int kBusyTimeoutMs = 5000;
constexpr const char* kDatabaseFile = "local.db";

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

Status CreateSchema(sqlite3* db) {
  Transaction txn(db);
  TOPOS_RETURN_IF_ERROR(txn.Begin());
  TOPOS_RETURN_IF_ERROR(Exec(db,
                             "CREATE TABLE IF NOT EXISTS meta("
                             "  key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                             "CREATE TABLE IF NOT EXISTS config_versions("
                             "  version INTEGER PRIMARY KEY,"
                             "  applied_at INTEGER NOT NULL,"
                             "  content BLOB NOT NULL,"
                             "  content_sha256 TEXT NOT NULL);",
                             "local store: create schema"));
  std::optional<std::string> found;
  {
    Statement select(db, "SELECT value FROM meta WHERE key = 'schema_version'",
                     "local store: read schema version");
    auto row = select.Next();
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
    TOPOS_RETURN_IF_ERROR(Statement(db,
                                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                                    "local store: write schema version")
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
      statements_(std::make_unique<sqlite::StatementCache>(db_.get())) {}

LocalStore::~LocalStore() = default;

Result<LocalStore::Database> LocalStore::OpenDatabase(const std::filesystem::path& dir) {
  const std::filesystem::path db_path = dir / kDatabaseFile;
  sqlite3* handle = nullptr;
  const int rc = sqlite3_open_v2(db_path.c_str(), &handle, SQLITE_OPEN_READWRITE, nullptr);
  Database db(handle);  // owns even a failed handle
  if (rc != SQLITE_OK) {
    return sqlite::ErrorStatus(db.get(), rc, "local store: open " + db_path.string());
  }
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  TOPOS_RETURN_IF_ERROR(Exec(db.get(), "PRAGMA synchronous=FULL", "local store: set synchronous"));
  // A rollback journal truncated after each commit, not WAL: applies are
  // rare and small, and WAL costs an -shm index mapped per opening and a
  // checkpoint per closing (when the store was opened per operation, 61% of
  // an apply's CPU). Truncating rather than deleting keeps the journal's inode
  // (on ext4, a new file just after a deletion searches the inode bitmap).
  // 2,000 simulated agents applying a publish (scripts/bench-fleet.sh, on
  // disk): WAL 5.8-6.4 s, DELETE 4.4-4.7 s, PERSIST 5.1-5.4 s, TRUNCATE
  // 3.8-4.4 s. Setting it also converts a store an older agent left in WAL.
  TOPOS_RETURN_IF_ERROR(Exec(db.get(), "PRAGMA journal_mode=TRUNCATE",
                             "local store: set the journal mode"));
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
    TOPOS_RETURN_IF_ERROR(CreateSchema(store->db_.get()));
    Statement latest(store->db_.get(), "SELECT MAX(version) FROM config_versions",
                     "local store: read latest version");
    auto row = latest.Next();
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
  Statement select(db_.get(), "SELECT content FROM config_versions WHERE version = ?",
                   "local store: read current configuration");
  select.BindInt(1, static_cast<std::int64_t>(version_));
  auto row = select.Next();
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
    Statement select(db_.get(), "SELECT content_sha256 FROM config_versions WHERE version = ?",
                     "local store: read applied configuration");
    select.BindInt(1, version);
    auto row = select.Next();
    if (!row.ok()) return row.status();
    if (*row && select.ColumnText(0) == sha256) return Status::Ok();  // nothing to do
  }

  Transaction txn(db_.get());
  TOPOS_RETURN_IF_ERROR(txn.Begin());
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  TOPOS_RETURN_IF_ERROR(
      Statement(db_.get(),
                "INSERT OR REPLACE INTO config_versions(version, applied_at, content, "
                "content_sha256) VALUES (?, ?, ?, ?)",
                "local store: apply " + name)
          .BindInt(1, version)
          .BindInt(2, now)
          .BindBlob(3, *bytes)
          .BindText(4, sha256)
          .Run());
  TOPOS_RETURN_IF_ERROR(Statement(db_.get(),
                                  "DELETE FROM config_versions WHERE version NOT IN "
                                  "(SELECT version FROM config_versions ORDER BY version DESC "
                                  "LIMIT ?)",
                                  "local store: prune old versions")
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
