// Unpacks a .tar.gz (or any tar libarchive reads) into a directory, refusing
// anything that could write outside it: absolute paths, `..` components,
// device/FIFO/socket entries, and symbolic or hard links whose target leaves
// the directory. Nothing is written for a refused archive: entries are checked
// before any byte is extracted.
#pragma once

#include <cstdint>
#include <filesystem>

#include "common/status.h"

namespace topos::agent {

struct UnpackLimits {
  std::uint64_t max_entries = 100000;
  std::uint64_t max_total_bytes = std::uint64_t{4} << 30;  // 4 GiB unpacked
};

struct UnpackSummary {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

// `destination` must not exist yet (it is created, 0755). On any error the
// partly written destination is removed and the Status names the offending
// entry, e.g. `entry "../etc/passwd": path leaves the install directory`.
Result<UnpackSummary> UnpackArchive(const std::filesystem::path& archive,
                                    const std::filesystem::path& destination,
                                    const UnpackLimits& limits = {});

}  // namespace topos::agent
