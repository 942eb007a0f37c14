// The controller's artifact repository: tarballs stored once per SHA-256
// under DATA_DIR/artifacts/sha256/<hex>, indexed in the Store by (service,
// version). Uploads go to a temporary file and are renamed into place only
// after size and digest check out, so a failed push leaves nothing behind.
// Thread-safe: uploads are independent; the index is the Store's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "common/status.h"
#include "controller/store/store.h"

namespace topos::controller {

inline constexpr std::uint64_t kMaxArtifactBytes = std::uint64_t{2} << 30;  // 2 GiB

class ArtifactStore {
 public:
  // One upload in progress. Destroying it without Commit removes the temp file.
  class Upload {
   public:
    virtual ~Upload() = default;
    // InvalidArgument when more bytes arrive than the header's size.
    virtual Status Append(std::string_view data) = 0;
    // Checks size (and the header's sha256 if it gave one), moves the file
    // into place, records it. AlreadyExists if (service, version) was pushed
    // with a different digest. `already_present` true if the same digest was.
    virtual Result<ArtifactRecord> Commit(bool* already_present) = 0;
  };

  ArtifactStore(std::filesystem::path dir, Store& store);

  // Validates the header: service name ([a-z0-9][a-z0-9-]{0,62}), version
  // ([A-Za-z0-9._+-]{1,64}), size 1..kMaxArtifactBytes, sha256 empty or 64 hex.
  Result<std::unique_ptr<Upload>> BeginUpload(const ArtifactRecord& header);

  // The artifact a service needs for `version`: `reference` "sha256:<hex>"
  // pins a digest; anything else resolves through (service, version).
  // NotFound with the push command to run when nothing matches.
  Result<ArtifactRecord> Resolve(const std::string& service, const std::string& version,
                                 const std::string& reference);

  // The stored file for a digest; NotFound if unknown or missing on disk.
  Result<std::filesystem::path> PathOf(const std::string& sha256);

 private:
  std::filesystem::path dir_;
  Store& store_;
};

}  // namespace topos::controller
