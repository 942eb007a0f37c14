// Stub: replaced by the artifact work in progress.
#include "controller/store/sqlite_store.h"
namespace topos::controller {
Status SqliteStore::InsertArtifact(const ArtifactRecord&) { return Status::Internal("todo"); }
Result<ArtifactRecord> SqliteStore::GetArtifact(const std::string&, const std::string&) {
  return Status::Internal("todo");
}
Result<ArtifactRecord> SqliteStore::GetArtifactByDigest(const std::string&) {
  return Status::Internal("todo");
}
Result<std::vector<ArtifactRecord>> SqliteStore::ListArtifacts(const std::string&) {
  return Status::Internal("todo");
}
}  // namespace topos::controller
