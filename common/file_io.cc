#include "common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace topos {
namespace {

std::string ErrnoText() { return std::strerror(errno); }

// A rename is durable only once the directory holding the name is synced:
// without it, a power loss after the rename can bring back the old file.
Status SyncDirectoryOf(const std::filesystem::path& path) {
  std::filesystem::path directory = path.parent_path();
  if (directory.empty()) directory = ".";
  int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Internal("cannot open " + directory.string() + ": " + ErrnoText());
  int synced = ::fsync(fd);
  Status s = synced == 0 ? Status::Ok()
                         : Status::Internal("cannot sync " + directory.string() + ": " + ErrnoText());
  ::close(fd);
  return s;
}

}  // namespace

Status WriteFileAtomically(const std::filesystem::path& path, const std::string& content,
                           unsigned mode) {
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::Internal("cannot create " + tmp.string() + ": " + ErrnoText());
  // open() applies the umask; fchmod makes the mode exact either way.
  if (::fchmod(fd, mode) != 0) {
    Status s = Status::Internal("cannot set mode on " + tmp.string() + ": " + ErrnoText());
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  }
  std::size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Status::Internal("cannot write " + tmp.string() + ": " + ErrnoText());
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    Status s = Status::Internal("cannot flush " + tmp.string() + ": " + ErrnoText());
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Status::Internal("cannot rename " + tmp.string() + " to " + path.string() + ": " +
                                ErrnoText());
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncDirectoryOf(path);
}

Result<std::string> ReadFile(const std::filesystem::path& path, std::size_t max_bytes) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::NotFound("cannot read " + path.string() + ": " + ec.message());
  if (size > max_bytes) {
    return Status::InvalidArgument(path.string() + " is " + std::to_string(size) +
                                   " bytes; the limit is " + std::to_string(max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

Status EnsurePrivateDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Internal("cannot create directory " + dir.string() + ": " + ec.message());
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  if (ec) return Status::Internal("cannot set mode 0700 on " + dir.string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace topos
