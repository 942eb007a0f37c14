// Service certificate requests: what each host asked for, the decision, and
// the certificate issued. Revoking issued ones is in sqlite_store_revocation.cc.

#include "common/sqlite/statement.h"
#include "controller/store/sqlite_store.h"

namespace topos::controller {
namespace {

using sqlite::Quoted;
using sqlite::Statement;
using sqlite::Transaction;

constexpr std::string_view kColumns =
    "id, host_fqdn, service, names, csr_pem, state, reason, requested_at, decided_at, "
    "decided_by, serial, not_after, pem, revoked_at, revoke_reason";

const char* StateName(CertificateRequestState state) {
  switch (state) {
    case CertificateRequestState::kPending:
      return "pending";
    case CertificateRequestState::kIssued:
      return "issued";
    case CertificateRequestState::kDenied:
      return "denied";
  }
  return "pending";
}

Result<CertificateRequestState> ParseState(const std::string& name) {
  if (name == "pending") return CertificateRequestState::kPending;
  if (name == "issued") return CertificateRequestState::kIssued;
  if (name == "denied") return CertificateRequestState::kDenied;
  return Status::Internal("certificate request with unknown state " + Quoted(name));
}

// Names are stored one per line: DNS names cannot contain a newline.
std::string JoinNames(const std::vector<std::string>& names) {
  std::string joined;
  for (const auto& name : names) joined += (joined.empty() ? "" : "\n") + name;
  return joined;
}

std::vector<std::string> SplitNames(const std::string& joined) {
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start <= joined.size() && !joined.empty()) {
    std::size_t end = joined.find('\n', start);
    if (end == std::string::npos) end = joined.size();
    names.push_back(joined.substr(start, end - start));
    start = end + 1;
  }
  return names;
}

Result<CertificateRequestRecord> ReadRequest(const Statement& row) {
  CertificateRequestRecord request;
  request.id = row.ColumnText(0);
  request.host_fqdn = row.ColumnText(1);
  request.service = row.ColumnText(2);
  request.names = SplitNames(row.ColumnText(3));
  request.csr_pem = row.ColumnText(4);
  auto state = ParseState(row.ColumnText(5));
  if (!state.ok()) return state.status();
  request.state = *state;
  request.reason = row.ColumnText(6);
  request.requested_at = row.ColumnTime(7);
  request.decided_at = row.ColumnOptionalTime(8);
  request.decided_by = row.ColumnText(9);
  request.serial = row.ColumnText(10);
  request.not_after = row.ColumnOptionalTime(11);
  request.certificate_pem = row.ColumnText(12);
  request.revoked_at = row.ColumnOptionalTime(13);
  request.revoke_reason = row.ColumnText(14);
  return request;
}

}  // namespace

Status SqliteStore::InsertCertificateRequest(const CertificateRequestRecord& request) {
  std::lock_guard lock(mutex_);
  Statement insert(db_,
                   "INSERT INTO certificate_requests(" + std::string(kColumns) +
                       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "insert certificate request " + Quoted(request.id));
  insert.BindText(1, request.id)
      .BindText(2, request.host_fqdn)
      .BindText(3, request.service)
      .BindText(4, JoinNames(request.names))
      .BindText(5, request.csr_pem)
      .BindText(6, StateName(request.state))
      .BindText(7, request.reason)
      .BindTime(8, request.requested_at)
      .BindTime(9, request.decided_at)
      .BindText(10, request.decided_by)
      .BindText(11, request.serial)
      .BindTime(12, request.not_after)
      .BindText(13, request.certificate_pem)
      .BindTime(14, request.revoked_at)
      .BindText(15, request.revoke_reason);
  Status status = insert.Run();
  if (!status.ok() && status.message().find("UNIQUE") != std::string::npos) {
    return Status::AlreadyExists("certificate request " + Quoted(request.id) + " already exists");
  }
  return status;
}

Result<CertificateRequestRecord> SqliteStore::GetCertificateRequest(const std::string& id) {
  std::lock_guard lock(mutex_);
  Statement query(db_, "SELECT " + std::string(kColumns) + " FROM certificate_requests WHERE id = ?",
                  "get certificate request " + Quoted(id));
  query.BindText(1, id);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no certificate request with id " + Quoted(id));
  return ReadRequest(query);
}

Result<std::vector<CertificateRequestRecord>> SqliteStore::ListCertificateRequests(
    bool pending_only, const std::string& host_fqdn) {
  std::lock_guard lock(mutex_);
  // One host's requests through certificate_requests_by_host: an
  // "(? = '' OR host_fqdn = ?)" condition would keep SQLite off the index
  // and scan every request ever made, PEMs included.
  std::string where = pending_only ? " WHERE state = 'pending'" : " WHERE 1";
  if (!host_fqdn.empty()) where += " AND host_fqdn = ?1";
  Statement query(db_,
                  "SELECT " + std::string(kColumns) + " FROM certificate_requests" + where +
                      " ORDER BY requested_at DESC, id",
                  "list certificate requests");
  if (!host_fqdn.empty()) query.BindText(1, host_fqdn);
  std::vector<CertificateRequestRecord> requests;
  for (;;) {
    Result<bool> row = query.Next();
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto request = ReadRequest(query);
    if (!request.ok()) return request.status();
    requests.push_back(std::move(*request));
  }
  return requests;
}

Status SqliteStore::DecideCertificateRequest(const CertificateRequestRecord& decided) {
  std::lock_guard lock(mutex_);
  Statement update(db_,
                   "UPDATE certificate_requests SET state = ?, reason = ?, decided_at = ?, "
                   "decided_by = ?, serial = ?, not_after = ?, pem = ? "
                   "WHERE id = ? AND state = 'pending'",
                   "decide certificate request " + Quoted(decided.id));
  update.BindText(1, StateName(decided.state))
      .BindText(2, decided.reason)
      .BindTime(3, decided.decided_at)
      .BindText(4, decided.decided_by)
      .BindText(5, decided.serial)
      .BindTime(6, decided.not_after)
      .BindText(7, decided.certificate_pem)
      .BindText(8, decided.id);
  TOPOS_RETURN_IF_ERROR(update.Run());
  if (update.changes() == 1) return Status::Ok();
  Statement query(db_, "SELECT state FROM certificate_requests WHERE id = ?",
                  "check certificate request " + Quoted(decided.id));
  query.BindText(1, decided.id);
  Result<bool> row = query.Next();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no certificate request with id " + Quoted(decided.id));
  return Status::FailedPrecondition("certificate request " + Quoted(decided.id) + " is already " +
                                    query.ColumnText(0));
}

}  // namespace topos::controller
