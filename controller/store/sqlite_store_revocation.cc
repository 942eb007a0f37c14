// SqliteStore: revoking certificates. Identity, operator and controller
// certificates are rows of `certificates`; service certificates are issued
// rows of `certificate_requests`. Both carry revoked_at (NULL while valid)
// and revoke_reason, and a revocation is never undone.
#include <algorithm>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "common/sqlite/statement.h"
#include "controller/store/sqlite_store.h"

namespace topos::controller {
namespace {

using sqlite::Quoted;
using sqlite::Statement;
using sqlite::Transaction;

// UTC, e.g. 2023-11-14T22:13:20Z.
std::string FormatTime(TimePoint t) {
  const std::time_t seconds = static_cast<std::time_t>(sqlite::ToUnixSeconds(t));
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// Appends the first column of every row `query` yields to `serials`.
Status CollectSerials(Statement& query, std::vector<std::string>& serials) {
  for (;;) {
    Result<bool> row = query.Next();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
    serials.push_back(query.ColumnText(0));
  }
}

// Why revoking `serial` touched no row: NotFound, or FailedPrecondition
// naming the earlier revocation. The caller holds the mutex.
Status NothingRevokedReason(sqlite3* db, const std::string& serial) {
  Statement query(db,
                  "SELECT revoked_at, revoke_reason FROM certificates "
                  "WHERE serial = ?1 AND revoked_at IS NOT NULL "
                  "UNION ALL SELECT revoked_at, revoke_reason FROM certificate_requests "
                  "WHERE serial = ?1 AND state = 'issued' AND revoked_at IS NOT NULL "
                  "ORDER BY 1 LIMIT 1",
                  "revoke certificate " + serial);
  query.BindText(1, serial);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("certificate " + Quoted(serial) + " not found");
  std::string reason = query.ColumnText(1);
  return Status::FailedPrecondition("certificate " + serial + " is already revoked (at " +
                                    FormatTime(query.ColumnTime(0)) +
                                    (reason.empty() ? "" : ": " + reason) + ")");
}

}  // namespace

Status SqliteStore::RevokeCertificate(const std::string& serial, TimePoint at,
                                      const std::string& reason) {
  // Requests not issued (yet) store an empty serial: never a match.
  if (serial.empty()) return Status::NotFound("certificate \"\" not found");
  std::lock_guard lock(mutex_);
  const std::string operation = "revoke certificate " + serial;
  Transaction transaction(db_);
  TOPOS_RETURN_IF_ERROR(transaction.Begin());

  Statement identity(db_,
                     "UPDATE certificates SET revoked_at = ?, revoke_reason = ? "
                     "WHERE serial = ? AND revoked_at IS NULL",
                     operation);
  identity.BindTime(1, at).BindText(2, reason).BindText(3, serial);
  TOPOS_RETURN_IF_ERROR(identity.Run());

  Statement service(db_,
                    "UPDATE certificate_requests SET revoked_at = ?, revoke_reason = ? "
                    "WHERE serial = ? AND state = 'issued' AND revoked_at IS NULL",
                    operation);
  service.BindTime(1, at).BindText(2, reason).BindText(3, serial);
  TOPOS_RETURN_IF_ERROR(service.Run());

  if (identity.changes() + service.changes() == 0) return NothingRevokedReason(db_, serial);
  return transaction.Commit();
}

Result<std::vector<std::string>> SqliteStore::RevokeHostCertificates(const std::string& fqdn,
                                                                     TimePoint at,
                                                                     const std::string& reason) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  TOPOS_RETURN_IF_ERROR(transaction.Begin());
  // A removed host still has a row: its certificates can still be revoked.
  Statement host(db_, "SELECT 1 FROM hosts WHERE fqdn = ?",
                 "revoke certificates of host " + Quoted(fqdn));
  host.BindText(1, fqdn);
  Result<bool> row = host.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("host " + Quoted(fqdn) + " never enrolled");

  Result<std::vector<std::string>> serials = RevokeHostCertificatesLocked(fqdn, at, reason);
  if (!serials.ok()) return serials.status();
  TOPOS_RETURN_IF_ERROR(transaction.Commit());
  return std::move(*serials);
}

Result<std::vector<std::string>> SqliteStore::RevokeHostCertificatesLocked(
    const std::string& fqdn, TimePoint at, const std::string& reason) {
  const std::string operation = "revoke certificates of host " + Quoted(fqdn);
  std::vector<std::string> serials;

  // One UPDATE ... RETURNING per table revokes and collects in one pass.
  auto revoke = [&](const char* sql) {
    Statement statement(db_, sql, operation);
    statement.BindTime(1, at).BindText(2, reason).BindText(3, fqdn);
    return CollectSerials(statement, serials);
  };
  // Identity certificates only: an operator may share the host's name.
  TOPOS_RETURN_IF_ERROR(revoke(
      "UPDATE certificates SET revoked_at = ?, revoke_reason = ? WHERE subject = ? "
      "AND purpose = 'agent_identity' AND revoked_at IS NULL RETURNING serial"));
  // Issued service certificates; pending and denied requests have none.
  TOPOS_RETURN_IF_ERROR(revoke(
      "UPDATE certificate_requests SET revoked_at = ?, revoke_reason = ? WHERE host_fqdn = ? "
      "AND state = 'issued' AND serial != '' AND revoked_at IS NULL RETURNING serial"));

  std::sort(serials.begin(), serials.end());
  serials.erase(std::unique(serials.begin(), serials.end()), serials.end());
  return serials;
}

}  // namespace topos::controller
