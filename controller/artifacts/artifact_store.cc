// Stub: replaced by the artifact work in progress.
#include "controller/artifacts/artifact_store.h"
namespace topos::controller {
ArtifactStore::ArtifactStore(std::filesystem::path dir, Store& store)
    : dir_(std::move(dir)), store_(store) {}
Result<std::unique_ptr<ArtifactStore::Upload>> ArtifactStore::BeginUpload(const ArtifactRecord&) {
  return Status::Internal("artifacts: not built yet");
}
Result<ArtifactRecord> ArtifactStore::Resolve(const std::string&, const std::string&,
                                              const std::string&) {
  return Status::Internal("artifacts: not built yet");
}
Result<std::filesystem::path> ArtifactStore::PathOf(const std::string&) {
  return Status::Internal("artifacts: not built yet");
}
}  // namespace topos::controller
