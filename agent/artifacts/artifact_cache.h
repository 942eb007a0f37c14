// Fetches artifacts from the controller by SHA-256 over FetchArtifact and
// keeps them in STATE_DIR/artifacts/<sha256>. A dropped connection resumes
// from the bytes already received (kept in <sha256>.partial); the digest is
// verified over the whole file before it is renamed into place, so a cached
// file is always a verified one.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "topos/v1/agent.grpc.pb.h"

namespace topos::agent {

class ArtifactCache {
 public:
  explicit ArtifactCache(std::filesystem::path dir);  // created 0700 if missing

  // Path of the verified artifact, fetching it if not cached. `sha256` must be
  // 64 lowercase hex digits (InvalidArgument otherwise). Retries a broken
  // stream up to `max_attempts` times, each time resuming at the partial size.
  // A digest mismatch deletes the download and fails with DataLoss-like
  // FailedPrecondition "artifact <sha> failed verification: got <other>".
  Result<std::filesystem::path> Fetch(topos::v1::AgentService::StubInterface& stub,
                                      const std::string& sha256, std::uint64_t expected_size,
                                      int max_attempts = 5,
                                      const std::atomic<bool>* cancel = nullptr);

  // The cached, verified path if present (re-hashing is not done: only
  // verified files are ever renamed into the cache).
  std::filesystem::path PathFor(const std::string& sha256) const;
  bool Has(const std::string& sha256) const;

 private:
  std::filesystem::path dir_;
};

// Streams the SHA-256 of a file as lowercase hex.
Result<std::string> Sha256OfFile(const std::filesystem::path& path);

}  // namespace topos::agent
