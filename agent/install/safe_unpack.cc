// Two passes over the archive:
//  1. read every header (and skip the data, which also verifies the
//     compression stream end to end) and refuse the archive if any entry is
//     unsafe or a limit is exceeded. Nothing touches the disk in this pass.
//  2. create the destination and extract with archive_write_disk, every path
//     (and hardlink target) prefixed with the destination's canonical path.
//
// Symlink rule (lexical, checked in pass 1): the target is relative and is
// some `..` components followed only by plain names, and the `..`s do not
// climb above the destination from the link's directory. Forbidding `..`
// after a name ("a/../b") closes the hole where "a" is itself a symlink (to
// "."), which a lexical resolver would get wrong. Because pass 2 refuses to
// write through symlinks (ARCHIVE_EXTRACT_SECURE_SYMLINKS), the link's own
// directory is a real directory, so every symlink resolves inside.
//
// ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS is not used in pass 2: our prefixed
// paths are absolute by construction, and pass 1 already refuses absolute
// entry names. Owners are not restored; set-user/group-ID bits are dropped.
#include "agent/install/safe_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace topos::agent {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kReadBlockBytes = 64 * 1024;

struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ReadArchive = std::unique_ptr<archive, ReadDeleter>;
using WriteArchive = std::unique_ptr<archive, WriteDeleter>;

std::string ArchiveError(archive* a) {
  const char* msg = archive_error_string(a);
  return msg != nullptr ? msg : "unknown libarchive error";
}

Result<ReadArchive> OpenArchive(const fs::path& path) {
  ReadArchive a(archive_read_new());
  if (!a) return Status::Internal("libarchive: out of memory");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), kReadBlockBytes) != ARCHIVE_OK) {
    return Status::InvalidArgument("cannot read archive " + path.string() + ": " +
                                   ArchiveError(a.get()));
  }
  return a;
}

std::vector<std::string_view> Components(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (!part.empty() && part != ".") parts.push_back(part);
    start = end + 1;
  }
  return parts;
}

Status Refuse(std::string_view name, const std::string& why) {
  return Status::InvalidArgument("entry \"" + std::string(name) + "\": " + why);
}

// A relative path with no `..` and no absolute start.
Status CheckEntryPath(std::string_view name) {
  if (name.empty()) return Refuse(name, "empty path");
  if (name.front() == '/') return Refuse(name, "absolute path not allowed");
  for (auto part : Components(name)) {
    if (part == "..") return Refuse(name, "path leaves the install directory (\"..\")");
  }
  return Status::Ok();
}

Status CheckSymlinkTarget(std::string_view name, std::string_view target) {
  const std::string quoted = "symlink target \"" + std::string(target) + "\"";
  if (target.empty()) return Refuse(name, "empty symlink target");
  if (target.front() == '/') return Refuse(name, quoted + " is absolute");
  const auto link_parts = Components(name);
  if (link_parts.empty()) return Refuse(name, "symlink without a name");
  std::size_t depth = link_parts.size() - 1;  // directories above the link
  bool seen_name = false;
  for (auto part : Components(target)) {
    if (part != "..") {
      seen_name = true;
      continue;
    }
    if (seen_name) return Refuse(name, quoted + " has \"..\" after a name (not allowed)");
    if (depth == 0) return Refuse(name, quoted + " leaves the install directory");
    --depth;
  }
  return Status::Ok();
}

Status CheckHardlinkTarget(std::string_view name, std::string_view target) {
  const std::string quoted = "hardlink target \"" + std::string(target) + "\"";
  if (target.empty()) return Refuse(name, "empty hardlink target");
  if (target.front() == '/') return Refuse(name, quoted + " is absolute");
  for (auto part : Components(target)) {
    if (part == "..") return Refuse(name, quoted + " leaves the install directory");
  }
  return Status::Ok();
}

std::string TypeName(mode_t type) {
  switch (type) {
    case AE_IFCHR: return "character device";
    case AE_IFBLK: return "block device";
    case AE_IFIFO: return "FIFO";
    case AE_IFSOCK: return "socket";
    default: return "file type " + std::to_string(type);
  }
}

// Pass 1: every header checked, data skipped; nothing written.
Result<UnpackSummary> Inspect(const fs::path& path, const UnpackLimits& limits) {
  auto a = OpenArchive(path);
  if (!a.ok()) return a.status();
  UnpackSummary summary;
  archive_entry* entry = nullptr;
  for (;;) {
    int rc = archive_read_next_header(a->get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      return Status::InvalidArgument("cannot read archive " + path.string() + " after " +
                                     std::to_string(summary.entries) +
                                     " entries: " + ArchiveError(a->get()));
    }
    const char* raw_name = archive_entry_pathname(entry);
    std::string_view name = raw_name != nullptr ? raw_name : "";
    if (++summary.entries > limits.max_entries) {
      return Status::InvalidArgument("archive " + path.string() + " has more than " +
                                     std::to_string(limits.max_entries) + " entries");
    }
    if (name.empty()) {
      return Status::InvalidArgument("archive " + path.string() + ": entry #" +
                                     std::to_string(summary.entries) +
                                     " has no path (damaged archive?)");
    }
    TOPOS_RETURN_IF_ERROR(CheckEntryPath(name));
    if (const char* hardlink = archive_entry_hardlink(entry)) {
      TOPOS_RETURN_IF_ERROR(CheckHardlinkTarget(name, hardlink));
    } else {
      mode_t type = archive_entry_filetype(entry);
      if (type == AE_IFLNK) {
        const char* target = archive_entry_symlink(entry);
        TOPOS_RETURN_IF_ERROR(CheckSymlinkTarget(name, target != nullptr ? target : ""));
      } else if (type != AE_IFREG && type != AE_IFDIR) {
        return Refuse(name, TypeName(type) + " entries are not allowed");
      }
    }
    if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > 0) {
      summary.bytes += static_cast<std::uint64_t>(archive_entry_size(entry));
      if (summary.bytes > limits.max_total_bytes) {
        return Status::InvalidArgument("archive " + path.string() + " unpacks to more than " +
                                       std::to_string(limits.max_total_bytes) +
                                       " bytes (at entry \"" + std::string(name) + "\")");
      }
    }
  }
  if (summary.entries == 0) {
    return Status::InvalidArgument("archive " + path.string() + " contains no entries");
  }
  return summary;
}

std::string Prefixed(const fs::path& destination, std::string_view name) {
  return (destination / fs::path(std::string(name)).relative_path()).string();
}

// Pass 2: extract into `destination` (which exists and is empty).
Result<std::uint64_t> Extract(const fs::path& path, const fs::path& destination,
                              const UnpackLimits& limits) {
  auto a = OpenArchive(path);
  if (!a.ok()) return a.status();
  WriteArchive out(archive_write_disk_new());
  if (!out) return Status::Internal("libarchive: out of memory");
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME);
  std::uint64_t bytes = 0;
  archive_entry* entry = nullptr;
  for (;;) {
    int rc = archive_read_next_header(a->get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      return Status::InvalidArgument("cannot read archive " + path.string() + ": " +
                                     ArchiveError(a->get()));
    }
    const std::string name = archive_entry_pathname(entry);
    archive_entry_set_pathname(entry, Prefixed(destination, name).c_str());
    if (const char* hardlink = archive_entry_hardlink(entry)) {
      archive_entry_set_hardlink(entry, Prefixed(destination, hardlink).c_str());
    }
    archive_entry_set_perm(entry, archive_entry_perm(entry) & ~(S_ISUID | S_ISGID));
    if (archive_write_header(out.get(), entry) < ARCHIVE_WARN) {
      return Status::InvalidArgument("entry \"" + name + "\": cannot extract: " +
                                     ArchiveError(out.get()));
    }
    const void* block = nullptr;
    std::size_t size = 0;
    la_int64_t offset = 0;
    while ((rc = archive_read_data_block(a->get(), &block, &size, &offset)) == ARCHIVE_OK) {
      bytes += size;
      if (bytes > limits.max_total_bytes) {
        return Status::InvalidArgument("archive " + path.string() + " unpacks to more than " +
                                       std::to_string(limits.max_total_bytes) + " bytes");
      }
      if (archive_write_data_block(out.get(), block, size, offset) < ARCHIVE_WARN) {
        return Status::Internal("entry \"" + name + "\": cannot write: " +
                                ArchiveError(out.get()));
      }
    }
    if (rc != ARCHIVE_EOF) {
      return Status::InvalidArgument("entry \"" + name + "\": cannot read data: " +
                                     ArchiveError(a->get()));
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN) {
      return Status::Internal("entry \"" + name + "\": cannot finish: " +
                              ArchiveError(out.get()));
    }
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK) {
    return Status::Internal("finishing extraction: " + ArchiveError(out.get()));
  }
  return bytes;
}

}  // namespace

Result<UnpackSummary> UnpackArchive(const fs::path& archive, const fs::path& destination,
                                    const UnpackLimits& limits) {
  std::error_code ec;
  if (fs::symlink_status(destination, ec).type() != fs::file_type::not_found) {
    return Status::AlreadyExists("install directory " + destination.string() +
                                 " already exists (remove it or pick another)");
  }
  if (!fs::is_regular_file(archive, ec)) {
    return Status::NotFound("archive " + archive.string() + " does not exist");
  }
  if (fs::file_size(archive, ec) == 0) {
    return Status::InvalidArgument("archive " + archive.string() + " is empty");
  }
  // Extraction must not pass through symlinks, so use the real parent path.
  fs::path dest = fs::absolute(destination, ec).lexically_normal();
  if (!dest.has_filename()) dest = dest.parent_path();  // "dir/"
  if (ec || !dest.has_filename() || dest.filename() == "..") {
    return Status::InvalidArgument("install directory \"" + destination.string() +
                                   "\" is not a usable directory name");
  }
  fs::path real_parent = fs::canonical(dest.parent_path(), ec);
  if (ec) {
    return Status::NotFound("parent directory of " + destination.string() +
                            " does not exist: " + ec.message());
  }
  const fs::path target = real_parent / dest.filename();

  auto summary = Inspect(archive, limits);
  if (!summary.ok()) return summary.status();

  if (!fs::create_directory(target, ec) || ec) {
    return Status::Internal("cannot create install directory " + target.string() + ": " +
                            (ec ? ec.message() : "it appeared meanwhile"));
  }
  fs::permissions(target, fs::perms(0755), ec);
  auto bytes = Extract(archive, target, limits);
  if (!bytes.ok()) {
    fs::remove_all(target, ec);
    return bytes.status();
  }
  summary->bytes = *bytes;
  return summary;
}

}  // namespace topos::agent
