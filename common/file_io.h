// File reads and atomic writes. A write either fully replaces the file with
// the given mode or leaves the old one untouched: we write a temporary file
// in the same directory, fsync it, then rename over the target.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "common/status.h"

namespace topos {

// Writes `content` to `path` atomically with permission bits `mode`
// (0600 for keys). The mode is set before any byte is written; the file and
// then its directory are synced, so once this returns the new content
// survives a power loss.
Status WriteFileAtomically(const std::filesystem::path& path, const std::string& content,
                           unsigned mode = 0644);

// Reads a whole file, refusing files larger than `max_bytes`.
Result<std::string> ReadFile(const std::filesystem::path& path,
                             std::size_t max_bytes = 1 << 20);

// Creates `dir` (and parents) with mode 0700 if missing.
Status EnsurePrivateDirectory(const std::filesystem::path& dir);

}  // namespace topos
