#include "controller/store/migrations.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "common/sqlite/statement.h"

namespace topos::controller::schema {

using topos::sqlite::ErrorStatus;
using topos::sqlite::Exec;
using topos::sqlite::Statement;
using topos::sqlite::Transaction;

namespace {

// Version 1: the initial schema. Times are unix seconds; facts is a
// serialized protobuf (arbitrary bytes).
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE tokens (
  id          TEXT PRIMARY KEY NOT NULL,
  secret_hash TEXT NOT NULL,
  host_fqdn   TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  used_at     INTEGER,
  revoked_at  INTEGER,
  created_by  TEXT NOT NULL
);
CREATE INDEX tokens_by_created_at ON tokens(created_at);

CREATE TABLE certificates (
  serial        TEXT PRIMARY KEY NOT NULL,
  subject       TEXT NOT NULL,
  purpose       TEXT NOT NULL
                CHECK (purpose IN ('agent_identity', 'operator', 'controller_server')),
  fingerprint   TEXT NOT NULL,
  issued_at     INTEGER NOT NULL,
  not_after     INTEGER NOT NULL,
  pem           TEXT NOT NULL,
  revoked_at    INTEGER,
  revoke_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX certificates_by_subject ON certificates(subject, purpose);
CREATE INDEX certificates_revoked ON certificates(revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE hosts (
  fqdn                          TEXT PRIMARY KEY NOT NULL,
  enrolled_at                   INTEGER NOT NULL,
  removed_at                    INTEGER,
  last_seen                     INTEGER,
  agent_version                 TEXT NOT NULL DEFAULT '',
  facts                         BLOB NOT NULL DEFAULT x'',
  certificate_serial            TEXT NOT NULL REFERENCES certificates(serial),
  certificate_not_after         INTEGER NOT NULL,
  refused_duplicate_connections INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE operators (
  subject    TEXT PRIMARY KEY NOT NULL,
  roles      TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
)sql";

// Version 2: the configuration version each host reports applied, and the
// append-only history of published topologies (rows are never updated or
// deleted). SQLite adds one column per ALTER TABLE.
constexpr const char* kSchemaV2 = R"sql(
ALTER TABLE hosts ADD COLUMN applied_config_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN config_applied_at INTEGER;

CREATE TABLE topology_versions (
  version       INTEGER PRIMARY KEY NOT NULL CHECK (version > 0),
  author        TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  message       TEXT NOT NULL,
  sha256        TEXT NOT NULL,
  source_name   TEXT NOT NULL,
  topology_yaml TEXT NOT NULL,
  roles_yaml    TEXT NOT NULL
);
)sql";

// Version 3: artifacts (content-addressed; the bytes live in DATA_DIR/artifacts),
// service certificate requests with their decisions and issued certificates
// (service certificates live here, not in `certificates`, whose purpose CHECK
// SQLite cannot alter in place), and the services each
// host last reported (a serialized list, replaced whole).
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE artifacts (
  service     TEXT NOT NULL,
  version     TEXT NOT NULL,
  sha256      TEXT NOT NULL,
  size        INTEGER NOT NULL,
  file_name   TEXT NOT NULL,
  pushed_at   INTEGER NOT NULL,
  pushed_by   TEXT NOT NULL,
  PRIMARY KEY (service, version)
);
CREATE INDEX artifacts_by_digest ON artifacts(sha256);

CREATE TABLE certificate_requests (
  id           TEXT PRIMARY KEY NOT NULL,
  host_fqdn    TEXT NOT NULL,
  service      TEXT NOT NULL,
  names        TEXT NOT NULL,
  csr_pem      TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('pending', 'issued', 'denied')),
  reason       TEXT NOT NULL,
  requested_at INTEGER NOT NULL,
  decided_at   INTEGER,
  decided_by   TEXT NOT NULL,
  serial       TEXT NOT NULL,
  not_after    INTEGER,
  pem          TEXT NOT NULL
);
CREATE INDEX certificate_requests_by_host ON certificate_requests(host_fqdn, service);

ALTER TABLE hosts ADD COLUMN services BLOB NOT NULL DEFAULT x'';

)sql";

// Version 4: rollouts. The runner owns the serialized topos.v1.Rollout
// (`snapshot`); the store indexes id, state and time. Events are append-only
// per rollout, numbered by the runner; each host's planned steps are stored
// once at creation. `done` is 0/1.
constexpr const char* kSchemaV4 = R"sql(
CREATE TABLE rollouts (
  id         TEXT PRIMARY KEY NOT NULL,
  state      TEXT NOT NULL,
  done       INTEGER NOT NULL CHECK (done IN (0, 1)),
  created_at INTEGER NOT NULL,
  snapshot   BLOB NOT NULL
);
CREATE INDEX rollouts_unfinished ON rollouts(created_at, id) WHERE done = 0;

CREATE TABLE rollout_events (
  rollout_id TEXT NOT NULL REFERENCES rollouts(id),
  seq        INTEGER NOT NULL,
  event      BLOB NOT NULL,
  PRIMARY KEY (rollout_id, seq)
);

CREATE TABLE rollout_host_steps (
  rollout_id TEXT NOT NULL REFERENCES rollouts(id),
  host_fqdn  TEXT NOT NULL,
  steps      BLOB NOT NULL,
  PRIMARY KEY (rollout_id, host_fqdn)
);
)sql";

// Version 5: revocation of issued service certificates, like `certificates`
// rows (revoked_at NULL while valid). Revocation looks service certificates
// up by serial; pending and denied requests have an empty serial.
constexpr const char* kSchemaV5 = R"sql(
ALTER TABLE certificate_requests ADD COLUMN revoked_at INTEGER;
ALTER TABLE certificate_requests ADD COLUMN revoke_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX certificate_requests_by_serial ON certificate_requests(serial);
CREATE INDEX certificate_requests_revoked ON certificate_requests(revoked_at)
  WHERE revoked_at IS NOT NULL;
)sql";

// Version 6: CA rotations. The runner owns the serialized
// topos.v1.CaRotation (`snapshot`); rows are updated in place, never deleted.
constexpr const char* kSchemaV6 = R"sql(
CREATE TABLE ca_rotations (
  id         TEXT PRIMARY KEY NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  snapshot   BLOB NOT NULL
);
CREATE INDEX ca_rotations_by_created_at ON ca_rotations(created_at);
)sql";

// Version 7: each host of a rollout in a row of its own (RolloutHostRecord),
// so a decision round writes only the hosts it changed. Rollouts stored
// earlier keep their hosts in the snapshot; their runner moves them here
// with its first write.
constexpr const char* kSchemaV7 = R"sql(
CREATE TABLE rollout_hosts (
  rollout_id TEXT NOT NULL REFERENCES rollouts(id),
  pool       INTEGER NOT NULL CHECK (pool >= 0),
  position   INTEGER NOT NULL CHECK (position >= 0),
  host       BLOB NOT NULL,
  PRIMARY KEY (rollout_id, pool, position)
) WITHOUT ROWID;
)sql";

constexpr Migration kMigrations[] = {
    {1, kSchemaV1},
    {2, kSchemaV2},
    {3, kSchemaV3},
    {4, kSchemaV4},
    {5, kSchemaV5},
    {6, kSchemaV6},
    {7, kSchemaV7},
};

struct ConnectionCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, ConnectionCloser>;

// Creates the file owner-only before SQLite does, so it is never readable by
// others; SQLite gives the -wal and -shm files the same mode.
Status CreatePrivateFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Internal("create database " + path.string() + ": " + std::strerror(errno));
  }
  ::close(fd);
  if (::chmod(path.c_str(), 0600) != 0) {
    return Status::Internal("chmod 0600 database " + path.string() + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Status Configure(sqlite3* db) {
  sqlite3_extended_result_codes(db, 1);
  if (int rc = sqlite3_busy_timeout(db, 5000); rc != SQLITE_OK) {
    return ErrorStatus(db, rc, "set busy timeout");
  }
  {
    Statement wal(db, "PRAGMA journal_mode=WAL", "enable WAL");
    Result<bool> row = wal.Next();
    if (!row.ok()) return row.status();
    const std::string mode = *row ? wal.ColumnText(0) : "";
    if (mode != "wal") return Status::Internal("enable WAL: journal mode is \"" + mode + "\"");
  }
  TOPOS_RETURN_IF_ERROR(Exec(db, "PRAGMA foreign_keys=ON", "enable foreign keys"));
  TOPOS_RETURN_IF_ERROR(Exec(db, "PRAGMA synchronous=NORMAL", "set synchronous"));
  return Exec(db,
              "CREATE TABLE IF NOT EXISTS schema_migrations ("
              "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
              "create schema_migrations");
}

Status Apply(sqlite3* db, const Migration& migration) {
  const std::string name = "migration " + std::to_string(migration.version);
  Transaction transaction(db);
  TOPOS_RETURN_IF_ERROR(transaction.Begin());
  // Re-read under the write lock: another process may have migrated meanwhile.
  Result<int> current = CurrentSchemaVersion(db);
  if (!current.ok()) return current.status();
  if (*current >= migration.version) return Status::Ok();  // the empty transaction rolls back
  TOPOS_RETURN_IF_ERROR(Exec(db, migration.sql, name));
  Statement record(db, "INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)",
                   "record " + name);
  record.BindInt(1, migration.version).BindTime(2, std::chrono::system_clock::now());
  TOPOS_RETURN_IF_ERROR(record.Run());
  return transaction.Commit();
}

}  // namespace

std::span<const Migration> BuiltinMigrations() { return kMigrations; }

Result<int> CurrentSchemaVersion(sqlite3* db) {
  Statement query(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                  "read schema version");
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  return static_cast<int>(*row ? query.ColumnInt(0) : 0);
}

Result<sqlite3*> OpenAndMigrate(const std::filesystem::path& path,
                                std::span<const Migration> migrations) {
  TOPOS_RETURN_IF_ERROR(CreatePrivateFile(path));
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Connection db(raw);  // closes even a handle from a failed open
  if (rc != SQLITE_OK) return ErrorStatus(raw, rc, "open database " + path.string());
  Status configured = Configure(db.get());
  if (!configured.ok()) return configured.WithContext(path.string());

  const int known = migrations.empty() ? 0 : migrations.back().version;
  Result<int> current = CurrentSchemaVersion(db.get());
  if (!current.ok()) return current.status().WithContext(path.string());
  if (*current > known) {
    return Status::FailedPrecondition(path.string() + ": database schema version " +
                                      std::to_string(*current) +
                                      " is newer than this controller (" + std::to_string(known) +
                                      "); run a newer controller or restore a backup");
  }
  for (const Migration& migration : migrations) {
    if (migration.version <= *current) continue;
    Status applied = Apply(db.get(), migration);
    if (!applied.ok()) return applied.WithContext(path.string());
  }
  return db.release();
}

Status MigrateFile(const std::filesystem::path& path, std::span<const Migration> migrations) {
  Result<sqlite3*> db = OpenAndMigrate(path, migrations);
  if (!db.ok()) return db.status();
  sqlite3_close_v2(*db);
  return Status::Ok();
}

}  // namespace topos::controller::schema
