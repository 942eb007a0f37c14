// Stub: replaced by the certificate request work in progress.
#include "controller/store/sqlite_store.h"
namespace topos::controller {
Status SqliteStore::InsertCertificateRequest(const CertificateRequestRecord&) {
  return Status::Internal("todo");
}
Result<CertificateRequestRecord> SqliteStore::GetCertificateRequest(const std::string&) {
  return Status::Internal("todo");
}
Result<std::vector<CertificateRequestRecord>> SqliteStore::ListCertificateRequests(
    bool, const std::string&) {
  return Status::Internal("todo");
}
Status SqliteStore::DecideCertificateRequest(const CertificateRequestRecord&) {
  return Status::Internal("todo");
}
}  // namespace topos::controller
