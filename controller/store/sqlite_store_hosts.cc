// SqliteStore: enrollment, certificates and hosts. Connection lifetime,
// tokens and operators are in sqlite_store.cc.
#include <sqlite3.h>

#include <cstdint>
#include <string_view>
#include <utility>

#include "common/sqlite/statement.h"
#include "controller/store/sqlite_store.h"

namespace topos::controller {
namespace {

using sqlite::Quoted;
using sqlite::Statement;
using sqlite::Transaction;

constexpr std::string_view kAgentIdentity = "agent_identity";

std::string_view PurposeName(CertificatePurpose purpose) {
  switch (purpose) {
    case CertificatePurpose::kAgentIdentity:
      return kAgentIdentity;
    case CertificatePurpose::kOperator:
      return "operator";
    case CertificatePurpose::kControllerServer:
      return "controller_server";
  }
  return "unknown";  // rejected by the table's CHECK constraint
}

Result<CertificatePurpose> ParsePurpose(const std::string& name, const std::string& serial) {
  if (name == kAgentIdentity) return CertificatePurpose::kAgentIdentity;
  if (name == "operator") return CertificatePurpose::kOperator;
  if (name == "controller_server") return CertificatePurpose::kControllerServer;
  return Status::Internal("certificate " + Quoted(serial) + ": unknown purpose " + Quoted(name));
}

constexpr std::string_view kCertificateColumns =
    "serial, subject, purpose, fingerprint, issued_at, not_after, pem, revoked_at, revoke_reason";

Result<CertificateRecord> ReadCertificate(const Statement& row) {
  CertificateRecord certificate;
  certificate.serial = row.ColumnText(0);
  certificate.subject = row.ColumnText(1);
  Result<CertificatePurpose> purpose = ParsePurpose(row.ColumnText(2), certificate.serial);
  if (!purpose.ok()) return purpose.status();
  certificate.purpose = *purpose;
  certificate.fingerprint = row.ColumnText(3);
  certificate.issued_at = row.ColumnTime(4);
  certificate.not_after = row.ColumnTime(5);
  certificate.pem = row.ColumnText(6);
  certificate.revoked_at = row.ColumnOptionalTime(7);
  certificate.revoke_reason = row.ColumnText(8);
  return certificate;
}

constexpr std::string_view kHostColumns =
    "fqdn, enrolled_at, removed_at, last_seen, agent_version, facts, certificate_serial, "
    "certificate_not_after, refused_duplicate_connections, applied_config_version, "
    "config_applied_at, services";

HostRecord ReadHost(const Statement& row) {
  HostRecord host;
  host.fqdn = row.ColumnText(0);
  host.enrolled_at = row.ColumnTime(1);
  host.removed_at = row.ColumnOptionalTime(2);
  host.last_seen = row.ColumnOptionalTime(3);
  host.agent_version = row.ColumnText(4);
  host.facts = row.ColumnBlob(5);
  host.certificate_serial = row.ColumnText(6);
  host.certificate_not_after = row.ColumnTime(7);
  host.refused_duplicate_connections = static_cast<int>(row.ColumnInt(8));
  host.applied_config_version = static_cast<std::uint64_t>(row.ColumnInt(9));
  host.config_applied_at = row.ColumnOptionalTime(10);
  host.services = row.ColumnBlob(11);
  return host;
}

// The caller holds the mutex (and usually a transaction).
Status InsertCertificateRow(sqlite3* db, const CertificateRecord& certificate) {
  Statement insert(db,
                   "INSERT INTO certificates(serial, subject, purpose, fingerprint, issued_at, "
                   "not_after, pem, revoked_at, revoke_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "insert certificate " + Quoted(certificate.serial));
  insert.BindText(1, certificate.serial)
      .BindText(2, certificate.subject)
      .BindText(3, PurposeName(certificate.purpose))
      .BindText(4, certificate.fingerprint)
      .BindTime(5, certificate.issued_at)
      .BindTime(6, certificate.not_after)
      .BindText(7, certificate.pem)
      .BindTime(8, certificate.revoked_at)
      .BindText(9, certificate.revoke_reason);
  return insert.Run();
}

// Why UPDATE ... WHERE used_at IS NULL AND revoked_at IS NULL touched nothing.
Status TokenUnusableReason(sqlite3* db, const std::string& token_id) {
  Statement query(db, "SELECT used_at IS NOT NULL, revoked_at IS NOT NULL FROM tokens WHERE id = ?",
                  "check token " + Quoted(token_id));
  query.BindText(1, token_id);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no token with id " + Quoted(token_id));
  if (query.ColumnInt(0) != 0) return Status::FailedPrecondition("token already used");
  if (query.ColumnInt(1) != 0) return Status::FailedPrecondition("token revoked");
  return Status::Internal("token " + Quoted(token_id) + " could not be marked used");
}

}  // namespace

Status SqliteStore::CompleteEnrollment(const std::string& token_id, const HostRecord& host,
                                       const CertificateRecord& certificate, TimePoint at) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  TOPOS_RETURN_IF_ERROR(transaction.Begin());

  Statement use(db_,
                "UPDATE tokens SET used_at = ? WHERE id = ? AND used_at IS NULL "
                "AND revoked_at IS NULL",
                "mark token " + Quoted(token_id) + " used");
  use.BindTime(1, at).BindText(2, token_id);
  TOPOS_RETURN_IF_ERROR(use.Run());
  if (use.changes() == 0) return TokenUnusableReason(db_, token_id);

  TOPOS_RETURN_IF_ERROR(InsertCertificateRow(db_, certificate));

  // A re-enrollment keeps the host's history (last_seen, facts, counters).
  Statement upsert(db_,
                   "INSERT INTO hosts(fqdn, enrolled_at, removed_at, last_seen, agent_version, "
                   "facts, certificate_serial, certificate_not_after) "
                   "VALUES (?, ?, NULL, ?, ?, ?, ?, ?) "
                   "ON CONFLICT(fqdn) DO UPDATE SET enrolled_at = excluded.enrolled_at, "
                   "removed_at = NULL, certificate_serial = excluded.certificate_serial, "
                   "certificate_not_after = excluded.certificate_not_after",
                   "enroll host " + Quoted(host.fqdn));
  upsert.BindText(1, host.fqdn)
      .BindTime(2, at)
      .BindTime(3, host.last_seen)
      .BindText(4, host.agent_version)
      .BindBlob(5, host.facts)
      .BindText(6, certificate.serial)
      .BindTime(7, certificate.not_after);
  TOPOS_RETURN_IF_ERROR(upsert.Run());
  return transaction.Commit();
}

Status SqliteStore::RecordRenewal(const std::string& fqdn, const CertificateRecord& certificate) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  TOPOS_RETURN_IF_ERROR(transaction.Begin());
  TOPOS_RETURN_IF_ERROR(InsertCertificateRow(db_, certificate));
  Statement update(db_,
                   "UPDATE hosts SET certificate_serial = ?, certificate_not_after = ? "
                   "WHERE fqdn = ?",
                   "record renewal of host " + Quoted(fqdn));
  update.BindText(1, certificate.serial).BindTime(2, certificate.not_after).BindText(3, fqdn);
  TOPOS_RETURN_IF_ERROR(update.Run());
  if (update.changes() == 0) return Status::NotFound("no host " + Quoted(fqdn));
  return transaction.Commit();
}

Status SqliteStore::InsertCertificate(const CertificateRecord& certificate) {
  std::lock_guard lock(mutex_);
  return InsertCertificateRow(db_, certificate);
}

Result<CertificateRecord> SqliteStore::GetCertificate(const std::string& serial) {
  std::lock_guard lock(mutex_);
  Statement query(
      db_, "SELECT " + std::string(kCertificateColumns) + " FROM certificates WHERE serial = ?",
      "get certificate " + Quoted(serial));
  query.BindText(1, serial);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no certificate with serial " + Quoted(serial));
  return ReadCertificate(query);
}

Result<std::vector<CertificateRecord>> SqliteStore::ListCertificates() {
  std::lock_guard lock(mutex_);
  Statement query(
      db_, "SELECT " + std::string(kCertificateColumns) + " FROM certificates ORDER BY serial",
      "list certificates");
  std::vector<CertificateRecord> certificates;
  for (;;) {
    Result<bool> row = query.Next();
    if (!row.ok()) return row.status();
    if (!*row) break;
    Result<CertificateRecord> certificate = ReadCertificate(query);
    if (!certificate.ok()) return certificate.status();
    certificates.push_back(std::move(*certificate));
  }
  return certificates;
}

Result<std::vector<std::string>> SqliteStore::ListRevokedSerials() {
  std::lock_guard lock(mutex_);
  // UNION also drops a serial that would be in both tables.
  Statement query(db_,
                  "SELECT serial FROM certificates WHERE revoked_at IS NOT NULL "
                  "UNION SELECT serial FROM certificate_requests "
                  "WHERE revoked_at IS NOT NULL AND serial != '' ORDER BY serial",
                  "list revoked certificates");
  std::vector<std::string> serials;
  for (;;) {
    Result<bool> row = query.Next();
    if (!row.ok()) return row.status();
    if (!*row) break;
    serials.push_back(query.ColumnText(0));
  }
  return serials;
}

Result<std::vector<HostRecord>> SqliteStore::ListHosts() {
  std::lock_guard lock(mutex_);
  Statement query(db_, "SELECT " + std::string(kHostColumns) + " FROM hosts ORDER BY fqdn",
                  "list hosts");
  std::vector<HostRecord> hosts;
  for (;;) {
    Result<bool> row = query.Next();
    if (!row.ok()) return row.status();
    if (!*row) break;
    hosts.push_back(ReadHost(query));
  }
  return hosts;
}

Result<HostRecord> SqliteStore::GetHost(const std::string& fqdn) {
  std::lock_guard lock(mutex_);
  Statement query(db_, "SELECT " + std::string(kHostColumns) + " FROM hosts WHERE fqdn = ?",
                  "get host " + Quoted(fqdn));
  query.BindText(1, fqdn);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no host " + Quoted(fqdn));
  return ReadHost(query);
}

Status SqliteStore::UpdateHostReports(const std::vector<HostReport>& reports) {
  if (reports.empty()) return Status::Ok();
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  TOPOS_RETURN_IF_ERROR(transaction.Begin());
  // Unknown hosts match no row and are skipped; absent fields keep their value.
  // SET expressions all see the row as it was, so the CASE compares the
  // reported version with the stored one before it is replaced.
  Statement update(db_,
                   "UPDATE hosts SET last_seen = ?1, agent_version = COALESCE(?2, agent_version), "
                   "facts = COALESCE(?3, facts), "
                   "config_applied_at = CASE WHEN ?5 IS NOT NULL AND ?5 != applied_config_version "
                   "THEN ?1 ELSE config_applied_at END, "
                   "applied_config_version = COALESCE(?5, applied_config_version), "
                   "services = COALESCE(?6, services) "
                   "WHERE fqdn = ?4",
                   "update host reports");
  for (const HostReport& report : reports) {
    update.BindTime(1, report.seen_at)
        .BindOptionalText(2, report.agent_version)
        .BindOptionalBlob(3, report.facts)
        .BindText(4, report.fqdn);
    if (report.applied_config_version) {
      update.BindInt(5, static_cast<std::int64_t>(*report.applied_config_version));
    } else {
      update.BindNull(5);
    }
    update.BindOptionalBlob(6, report.services);
    TOPOS_RETURN_IF_ERROR(update.Run());
  }
  return transaction.Commit();
}

Status SqliteStore::CountRefusedDuplicate(const std::string& fqdn) {
  std::lock_guard lock(mutex_);
  Statement update(db_,
                   "UPDATE hosts SET refused_duplicate_connections = "
                   "refused_duplicate_connections + 1 WHERE fqdn = ?",
                   "count refused duplicate for host " + Quoted(fqdn));
  update.BindText(1, fqdn);
  TOPOS_RETURN_IF_ERROR(update.Run());
  if (update.changes() == 0) return Status::NotFound("no host " + Quoted(fqdn));
  return Status::Ok();
}

Result<std::vector<std::string>> SqliteStore::RemoveHost(const std::string& fqdn, TimePoint at,
                                                         const std::string& reason) {
  std::lock_guard lock(mutex_);
  const std::string operation = "remove host " + Quoted(fqdn);
  Transaction transaction(db_);
  TOPOS_RETURN_IF_ERROR(transaction.Begin());

  // A second removal keeps the first removal time but still revokes.
  Statement remove(db_, "UPDATE hosts SET removed_at = COALESCE(removed_at, ?) WHERE fqdn = ?",
                   operation);
  remove.BindTime(1, at).BindText(2, fqdn);
  TOPOS_RETURN_IF_ERROR(remove.Run());
  if (remove.changes() == 0) return Status::NotFound("no host " + Quoted(fqdn));

  // Identity and service certificates alike (sqlite_store_revocation.cc).
  Result<std::vector<std::string>> serials = RevokeHostCertificatesLocked(fqdn, at, reason);
  if (!serials.ok()) return serials.status();
  TOPOS_RETURN_IF_ERROR(transaction.Commit());
  return std::move(*serials);
}

}  // namespace topos::controller
