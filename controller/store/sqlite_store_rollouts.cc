// SqliteStore: rollouts, their hosts, their append-only events and each
// host's planned steps. Snapshots, events and steps are opaque serialized protobufs, bound
// and read as blobs so any byte (NUL included) round-trips.
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/sqlite/statement.h"
#include "controller/store/sqlite_store.h"

namespace topos::controller {
namespace {

using sqlite::Quoted;
using sqlite::Statement;
using sqlite::Transaction;

constexpr std::string_view kSelectRollouts =
    "SELECT id, state, done, created_at, snapshot FROM rollouts";

constexpr std::uint64_t kMaxSeq =
    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

RolloutRecord ReadRollout(const Statement& row) {
  RolloutRecord record;
  record.id = row.ColumnText(0);
  record.state = row.ColumnText(1);
  record.done = row.ColumnInt(2) != 0;
  record.created_at = row.ColumnTime(3);
  record.snapshot = row.ColumnBlob(4);
  return record;
}

std::string Describe(const std::string& id) { return "rollout " + Quoted(id); }

Status NotFound(const std::string& id) { return Status::NotFound(Describe(id) + " not found"); }

// SQLite integers are signed 64-bit, and seq 0 could never be listed
// (ListRolloutEvents returns seq > after_seq >= 0).
Status CheckSeqs(const std::string& id, const std::vector<RolloutEventRecord>& events) {
  for (const RolloutEventRecord& event : events) {
    if (event.seq == 0 || event.seq > kMaxSeq) {
      return Status::InvalidArgument(Describe(id) + ": event seq " + std::to_string(event.seq) +
                                     " is out of range (1.." + std::to_string(kMaxSeq) + ")");
    }
  }
  return Status::Ok();
}

// Appends `events` inside the caller's transaction.
Status InsertEvents(sqlite3* db, const std::string& id,
                    const std::vector<RolloutEventRecord>& events) {
  if (events.empty()) return Status::Ok();
  Statement insert(db, "INSERT INTO rollout_events(rollout_id, seq, event) VALUES (?, ?, ?)",
                   "insert event of " + Describe(id));
  for (const RolloutEventRecord& event : events) {
    insert.BindText(1, id)
        .BindInt(2, static_cast<std::int64_t>(event.seq))
        .BindBlob(3, event.event);
    Status inserted = insert.Run();
    if (inserted.code() == Status::Code::kAlreadyExists) {
      return Status::AlreadyExists(Describe(id) + " already has an event with seq " +
                                   std::to_string(event.seq));
    }
    TOPOS_RETURN_IF_ERROR(inserted);
  }
  return Status::Ok();
}

Status CheckHosts(const std::string& id, const std::vector<RolloutHostRecord>& hosts) {
  for (const RolloutHostRecord& host : hosts) {
    if (host.pool < 0 || host.position < 0) {
      return Status::InvalidArgument(Describe(id) + ": host at pool " + std::to_string(host.pool) +
                                     ", position " + std::to_string(host.position) +
                                     " (both must be 0 or more)");
    }
  }
  return Status::Ok();
}

// Stores `hosts` in place of those at the same pool and position, inside
// the caller's transaction.
Status ReplaceHosts(sqlite3* db, const std::string& id,
                    const std::vector<RolloutHostRecord>& hosts) {
  if (hosts.empty()) return Status::Ok();
  Statement replace(db,
                    "INSERT INTO rollout_hosts(rollout_id, pool, position, host) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(rollout_id, pool, position) DO UPDATE SET host = excluded.host",
                    "store hosts of " + Describe(id));
  for (const RolloutHostRecord& host : hosts) {
    replace.BindText(1, id).BindInt(2, host.pool).BindInt(3, host.position).BindBlob(4, host.host);
    TOPOS_RETURN_IF_ERROR(replace.Run());
  }
  return Status::Ok();
}

Status ReadHosts(sqlite3* db, RolloutRecord& rollout) {
  Statement query(db,
                  "SELECT pool, position, host FROM rollout_hosts WHERE rollout_id = ? "
                  "ORDER BY pool, position",
                  "read hosts of " + Describe(rollout.id));
  query.BindText(1, rollout.id);
  for (;;) {
    Result<bool> row = query.Next();
    if (!row.ok()) return row.status();
    if (!*row) break;
    rollout.hosts.push_back({static_cast<int>(query.ColumnInt(0)),
                             static_cast<int>(query.ColumnInt(1)), query.ColumnBlob(2)});
  }
  return Status::Ok();
}

}  // namespace

Status SqliteStore::CreateRollout(
    const RolloutRecord& rollout, const std::vector<RolloutEventRecord>& events,
    const std::vector<std::pair<std::string, std::string>>& host_steps) {
  if (rollout.id.empty()) return Status::InvalidArgument("a rollout needs a non-empty id");
  TOPOS_RETURN_IF_ERROR(CheckSeqs(rollout.id, events));
  TOPOS_RETURN_IF_ERROR(CheckHosts(rollout.id, rollout.hosts));
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  TOPOS_RETURN_IF_ERROR(transaction.Begin());
  Statement insert(db_,
                   "INSERT INTO rollouts(id, state, done, created_at, snapshot) "
                   "VALUES (?, ?, ?, ?, ?)",
                   "insert " + Describe(rollout.id));
  insert.BindText(1, rollout.id)
      .BindText(2, rollout.state)
      .BindInt(3, rollout.done ? 1 : 0)
      .BindTime(4, rollout.created_at)
      .BindBlob(5, rollout.snapshot);
  Status inserted = insert.Run();
  if (inserted.code() == Status::Code::kAlreadyExists) {
    return Status::AlreadyExists(Describe(rollout.id) + " already exists");
  }
  TOPOS_RETURN_IF_ERROR(inserted);
  TOPOS_RETURN_IF_ERROR(ReplaceHosts(db_, rollout.id, rollout.hosts));
  TOPOS_RETURN_IF_ERROR(InsertEvents(db_, rollout.id, events));
  if (!host_steps.empty()) {
    Statement steps(db_,
                    "INSERT INTO rollout_host_steps(rollout_id, host_fqdn, steps) VALUES (?, ?, ?)",
                    "insert host steps of " + Describe(rollout.id));
    for (const auto& [fqdn, serialized] : host_steps) {
      steps.BindText(1, rollout.id).BindText(2, fqdn).BindBlob(3, serialized);
      Status stored = steps.Run();
      if (stored.code() == Status::Code::kAlreadyExists) {
        return Status::InvalidArgument(Describe(rollout.id) + ": steps for host " + Quoted(fqdn) +
                                       " given twice");
      }
      TOPOS_RETURN_IF_ERROR(stored);
    }
  }
  return transaction.Commit();
}

Status SqliteStore::SaveRollout(const RolloutRecord& rollout,
                                const std::vector<RolloutEventRecord>& events) {
  TOPOS_RETURN_IF_ERROR(CheckSeqs(rollout.id, events));
  TOPOS_RETURN_IF_ERROR(CheckHosts(rollout.id, rollout.hosts));
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  TOPOS_RETURN_IF_ERROR(transaction.Begin());
  Statement update(db_, "UPDATE rollouts SET state = ?, done = ?, snapshot = ? WHERE id = ?",
                   "save " + Describe(rollout.id));
  update.BindText(1, rollout.state)
      .BindInt(2, rollout.done ? 1 : 0)
      .BindBlob(3, rollout.snapshot)
      .BindText(4, rollout.id);
  TOPOS_RETURN_IF_ERROR(update.Run());
  if (update.changes() == 0) return NotFound(rollout.id);
  TOPOS_RETURN_IF_ERROR(ReplaceHosts(db_, rollout.id, rollout.hosts));
  TOPOS_RETURN_IF_ERROR(InsertEvents(db_, rollout.id, events));
  return transaction.Commit();
}

Result<RolloutRecord> SqliteStore::GetRollout(const std::string& id) {
  std::lock_guard lock(mutex_);
  Statement query(db_, std::string(kSelectRollouts) + " WHERE id = ?", "get " + Describe(id));
  query.BindText(1, id);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return NotFound(id);
  RolloutRecord rollout = ReadRollout(query);
  TOPOS_RETURN_IF_ERROR(ReadHosts(db_, rollout));
  return rollout;
}

Result<std::vector<RolloutRecord>> SqliteStore::ListRollouts(bool unfinished_only) {
  std::lock_guard lock(mutex_);
  std::string sql(kSelectRollouts);
  if (unfinished_only) sql += " WHERE done = 0";  // matches the partial index
  sql += " ORDER BY created_at DESC, id DESC";
  Statement query(db_, sql, "list rollouts");
  std::vector<RolloutRecord> rollouts;
  for (;;) {
    Result<bool> row = query.Next();
    if (!row.ok()) return row.status();
    if (!*row) break;
    rollouts.push_back(ReadRollout(query));
  }
  for (RolloutRecord& rollout : rollouts) TOPOS_RETURN_IF_ERROR(ReadHosts(db_, rollout));
  return rollouts;
}

Result<std::vector<RolloutEventRecord>> SqliteStore::ListRolloutEvents(const std::string& id,
                                                                       std::uint64_t after_seq,
                                                                       std::size_t limit) {
  std::lock_guard lock(mutex_);
  // Rollouts are never deleted, so the existence check cannot go stale.
  Statement exists(db_, "SELECT 1 FROM rollouts WHERE id = ?", "list events of " + Describe(id));
  exists.BindText(1, id);
  Result<bool> found = exists.Next();
  if (!found.ok()) return found.status();
  if (!*found) return NotFound(id);

  std::vector<RolloutEventRecord> events;
  if (limit == 0 || after_seq >= kMaxSeq) return events;  // no stored seq can follow
  const std::int64_t bound_limit =
      limit > kMaxSeq ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(limit);
  Statement query(db_,
                  "SELECT seq, event FROM rollout_events WHERE rollout_id = ? AND seq > ? "
                  "ORDER BY seq LIMIT ?",
                  "list events of " + Describe(id));
  query.BindText(1, id).BindInt(2, static_cast<std::int64_t>(after_seq)).BindInt(3, bound_limit);
  for (;;) {
    Result<bool> row = query.Next();
    if (!row.ok()) return row.status();
    if (!*row) break;
    RolloutEventRecord event;
    event.seq = static_cast<std::uint64_t>(query.ColumnInt(0));
    event.event = query.ColumnBlob(1);
    events.push_back(std::move(event));
  }
  return events;
}

Result<std::string> SqliteStore::GetRolloutHostSteps(const std::string& id,
                                                     const std::string& host_fqdn) {
  std::lock_guard lock(mutex_);
  // One query tells an unknown rollout from a host that is not part of it.
  Statement query(db_,
                  "SELECT s.steps IS NULL, s.steps FROM rollouts r "
                  "LEFT JOIN rollout_host_steps s ON s.rollout_id = r.id AND s.host_fqdn = ? "
                  "WHERE r.id = ?",
                  "get steps of host " + Quoted(host_fqdn) + " in " + Describe(id));
  query.BindText(1, host_fqdn).BindText(2, id);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return NotFound(id);
  if (query.ColumnInt(0) != 0) {
    return Status::NotFound(Describe(id) + " has no steps for host " + Quoted(host_fqdn));
  }
  return query.ColumnBlob(1);
}

}  // namespace topos::controller
