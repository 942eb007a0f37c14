// SqliteStore: CA rotations. The snapshot is an opaque serialized protobuf,
// bound and read as a blob.
#include <string>
#include <string_view>
#include <vector>

#include "common/sqlite/statement.h"
#include "controller/store/sqlite_store.h"

namespace topos::controller {
namespace {

using sqlite::Quoted;
using sqlite::Statement;

std::string Describe(const std::string& id) { return "CA rotation " + Quoted(id); }

CaRotationRecord ReadRotation(const Statement& row) {
  CaRotationRecord record;
  record.id = row.ColumnText(0);
  record.created_at = row.ColumnTime(1);
  record.updated_at = row.ColumnTime(2);
  record.snapshot = row.ColumnBlob(3);
  return record;
}

}  // namespace

Status SqliteStore::CreateCaRotation(const CaRotationRecord& rotation) {
  if (rotation.id.empty()) return Status::InvalidArgument("a CA rotation needs a non-empty id");
  std::lock_guard lock(mutex_);
  Statement insert(db_,
                   "INSERT INTO ca_rotations(id, created_at, updated_at, snapshot) "
                   "VALUES (?, ?, ?, ?)",
                   "insert " + Describe(rotation.id));
  insert.BindText(1, rotation.id)
      .BindTime(2, rotation.created_at)
      .BindTime(3, rotation.updated_at)
      .BindBlob(4, rotation.snapshot);
  Status inserted = insert.Run();
  if (inserted.code() == Status::Code::kAlreadyExists) {
    return Status::AlreadyExists(Describe(rotation.id) + " already exists");
  }
  return inserted;
}

Status SqliteStore::SaveCaRotation(const CaRotationRecord& rotation) {
  std::lock_guard lock(mutex_);
  Statement update(db_, "UPDATE ca_rotations SET updated_at = ?, snapshot = ? WHERE id = ?",
                   "save " + Describe(rotation.id));
  update.BindTime(1, rotation.updated_at).BindBlob(2, rotation.snapshot).BindText(3, rotation.id);
  TOPOS_RETURN_IF_ERROR(update.Run());
  if (update.changes() == 0) return Status::NotFound(Describe(rotation.id) + " not found");
  return Status::Ok();
}

Result<std::vector<CaRotationRecord>> SqliteStore::ListCaRotations() {
  std::lock_guard lock(mutex_);
  Statement query(db_,
                  "SELECT id, created_at, updated_at, snapshot FROM ca_rotations "
                  "ORDER BY created_at DESC, rowid DESC",
                  "list CA rotations");
  return sqlite::CollectRows(query, ReadRotation);
}

}  // namespace topos::controller
