#include "agent/artifacts/artifact_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

#include "certs/crypto.h"

namespace topos::agent {
namespace {

namespace fs = std::filesystem;

// Long enough for a 2 GiB tarball over a slow link; a dead connection is
// noticed sooner by gRPC's keepalive.
constexpr std::chrono::minutes kCallDeadline{10};
constexpr std::size_t kReadBlockBytes = 1 << 20;
constexpr std::chrono::milliseconds kFirstRetryDelay{100};
constexpr std::chrono::milliseconds kMaxRetryDelay{2000};
constexpr std::chrono::milliseconds kCancelPoll{50};

bool IsLowerHexDigest(const std::string& text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string ErrnoText() { return std::strerror(errno); }

// Watches `cancel` while one call runs and cancels the call when it turns
// true. Thread-safe; the destructor stops and joins the watcher.
class CancelWatcher {
 public:
  CancelWatcher(grpc::ClientContext& context, const std::atomic<bool>* cancel) {
    if (cancel == nullptr) return;
    thread_ = std::thread([this, &context, cancel] {
      std::unique_lock lock(mutex_);
      while (!done_) {
        if (cancel->load()) {
          context.TryCancel();
          return;
        }
        wake_.wait_for(lock, kCancelPoll);
      }
    });
  }
  ~CancelWatcher() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;  // guarded by mutex_
  std::thread thread_;
};

bool Cancelled(const std::atomic<bool>* cancel) { return cancel != nullptr && cancel->load(); }

// Sleeps `delay` unless cancelled first.
void SleepUnlessCancelled(std::chrono::milliseconds delay, const std::atomic<bool>* cancel) {
  auto until = std::chrono::steady_clock::now() + delay;
  while (!Cancelled(cancel) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min(kCancelPoll, delay));
  }
}

// gRPC codes a retry cannot fix.
bool IsPermanent(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::UNIMPLEMENTED:
      return true;
    default:
      return false;
  }
}

Status FromGrpc(const grpc::Status& status, const std::string& what) {
  std::string message = what + ": " + status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::OK: return Status::Ok();
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE: return Status::InvalidArgument(message);
    case grpc::StatusCode::NOT_FOUND: return Status::NotFound(message);
    case grpc::StatusCode::PERMISSION_DENIED: return Status::PermissionDenied(message);
    case grpc::StatusCode::UNAUTHENTICATED: return Status::Unauthenticated(message);
    case grpc::StatusCode::FAILED_PRECONDITION: return Status::FailedPrecondition(message);
    case grpc::StatusCode::INTERNAL: return Status::Internal(message);
    default: return Status::Unavailable(message);
  }
}

// Closes a file descriptor on scope exit.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

Status WriteAll(int fd, std::string_view data, const fs::path& path) {
  for (std::size_t done = 0; done < data.size();) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Internal("cannot write " + path.string() + ": " + ErrnoText());
    }
    done += static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

Result<std::uint64_t> SizeOf(int fd, const fs::path& path) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    return Status::Internal("cannot stat " + path.string() + ": " + ErrnoText());
  }
  return static_cast<std::uint64_t>(info.st_size);
}

// One FetchArtifact call appending to `fd` from `offset`. Returns OK when the
// stream ended normally (the caller checks whether it is complete); sets
// `permanent` when retrying cannot help.
Status FetchOnce(topos::v1::AgentService::StubInterface& stub, const std::string& sha256,
                 std::uint64_t expected_size, int fd, const fs::path& partial,
                 const std::atomic<bool>* cancel, bool* permanent) {
  *permanent = false;
  auto size = SizeOf(fd, partial);
  if (!size.ok()) return size.status();
  std::uint64_t offset = *size;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  CancelWatcher watcher(context, cancel);
  topos::v1::FetchArtifactRequest request;
  request.set_sha256(sha256);
  request.set_offset(offset);
  auto reader = stub.FetchArtifact(&context, request);
  topos::v1::ArtifactChunk chunk;
  Status problem;
  while (reader->Read(&chunk)) {
    if (chunk.total_size() != expected_size) {
      problem = Status::FailedPrecondition(
          "the controller says artifact " + sha256 + " is " + std::to_string(chunk.total_size()) +
          " bytes, but " + std::to_string(expected_size) + " were expected");
      *permanent = true;
    } else if (chunk.offset() != offset) {
      problem = Status::Unavailable("artifact " + sha256 + ": the controller sent bytes at " +
                                    std::to_string(chunk.offset()) + ", expected " +
                                    std::to_string(offset));
    } else if (chunk.data().size() > expected_size - offset) {
      problem = Status::FailedPrecondition("artifact " + sha256 +
                                           ": the controller sent more than " +
                                           std::to_string(expected_size) + " bytes");
      *permanent = true;
    } else {
      problem = WriteAll(fd, chunk.data(), partial);
      if (problem.ok()) {
        offset += chunk.data().size();
        continue;
      }
      *permanent = true;
    }
    context.TryCancel();
    break;
  }
  grpc::Status status = reader->Finish();
  if (!problem.ok()) return problem;
  if (Cancelled(cancel)) {
    *permanent = true;
    return Status::Unavailable("fetching artifact " + sha256 + " was cancelled");
  }
  if (!status.ok()) {
    *permanent = IsPermanent(status.error_code());
    return FromGrpc(status, "fetching artifact " + sha256);
  }
  return Status::Ok();
}

}  // namespace

ArtifactCache::ArtifactCache(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::error_code error;
  if (fs::create_directories(dir_, error)) {
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::replace, error);
  }
}

std::filesystem::path ArtifactCache::PathFor(const std::string& sha256) const {
  return dir_ / sha256;
}

bool ArtifactCache::Has(const std::string& sha256) const {
  if (!IsLowerHexDigest(sha256)) return false;
  std::error_code error;
  return fs::is_regular_file(PathFor(sha256), error);
}

Result<std::filesystem::path> ArtifactCache::Fetch(topos::v1::AgentService::StubInterface& stub,
                                                   const std::string& sha256,
                                                   std::uint64_t expected_size, int max_attempts,
                                                   const std::atomic<bool>* cancel) {
  if (!IsLowerHexDigest(sha256)) {
    return Status::InvalidArgument("artifact digest \"" + sha256.substr(0, 80) +
                                   "\" is not 64 lowercase hex digits");
  }
  if (Has(sha256)) return PathFor(sha256);
  std::error_code error;
  if (fs::create_directories(dir_, error)) {
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::replace, error);
  }
  if (error) {
    return Status::Internal("cannot create the artifact cache " + dir_.string() + ": " +
                            error.message());
  }

  const fs::path partial = dir_ / (sha256 + ".partial");
  FdCloser file{::open(partial.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)};
  if (file.fd < 0) return Status::Internal("cannot open " + partial.string() + ": " + ErrnoText());
  // Two fetches of one digest must not append to the same file.
  if (::flock(file.fd, LOCK_EX | LOCK_NB) != 0) {
    return Status::Unavailable("another fetch of artifact " + sha256 + " is in progress");
  }
  if (Has(sha256)) return PathFor(sha256);  // finished by a fetch that just let go

  // A failure that leaves no bytes leaves no file either.
  struct EmptyPartialRemover {
    const fs::path& path;
    ~EmptyPartialRemover() {
      std::error_code ignored;
      if (fs::exists(path, ignored) && fs::file_size(path, ignored) == 0) fs::remove(path, ignored);
    }
  } remover{partial};

  Status last = Status::Unavailable("fetching artifact " + sha256 + ": no attempt was made");
  std::chrono::milliseconds delay = kFirstRetryDelay;
  bool complete = false;
  for (int attempt = 1; attempt <= std::max(1, max_attempts) && !complete; ++attempt) {
    if (Cancelled(cancel)) {
      return Status::Unavailable("fetching artifact " + sha256 + " was cancelled");
    }
    auto size = SizeOf(file.fd, partial);
    if (!size.ok()) return size.status();
    if (*size > expected_size) {  // left by something else: start over
      if (::ftruncate(file.fd, 0) != 0) {
        return Status::Internal("cannot truncate " + partial.string() + ": " + ErrnoText());
      }
      *size = 0;
    }
    if (*size == expected_size) {
      complete = true;
      break;
    }
    bool permanent = false;
    last = FetchOnce(stub, sha256, expected_size, file.fd, partial, cancel, &permanent);
    if (permanent) return last;
    size = SizeOf(file.fd, partial);
    if (!size.ok()) return size.status();
    if (last.ok() && *size == expected_size) {
      complete = true;
      break;
    }
    if (last.ok()) {
      last = Status::Unavailable("fetching artifact " + sha256 + ": the stream ended at byte " +
                                 std::to_string(*size) + " of " + std::to_string(expected_size));
    }
    spdlog::warn("attempt {} of {}: {}; resuming at byte {}", attempt, max_attempts,
                 last.message(), *size);
    if (attempt < max_attempts) {
      SleepUnlessCancelled(delay, cancel);
      delay = std::min(delay * 2, kMaxRetryDelay);
    }
  }
  if (!complete) return last;

  if (::fsync(file.fd) != 0) {
    return Status::Internal("cannot sync " + partial.string() + ": " + ErrnoText());
  }
  auto digest = Sha256OfFile(partial);
  if (!digest.ok()) return digest.status();
  if (*digest != sha256) {
    fs::remove(partial, error);
    return Status::FailedPrecondition("artifact " + sha256 + " failed verification: got " +
                                      *digest + "; the download was deleted");
  }
  fs::permissions(partial, fs::perms(0644), fs::perm_options::replace, error);
  fs::rename(partial, PathFor(sha256), error);
  if (error) {
    return Status::Internal("cannot move " + partial.string() + " into the cache: " +
                            error.message());
  }
  spdlog::info("artifact {} fetched and verified ({} bytes)", sha256, expected_size);
  return PathFor(sha256);
}

Result<std::string> Sha256OfFile(const std::filesystem::path& path) {
  FdCloser file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return Status::Internal("cannot open " + path.string() + ": " + ErrnoText());
  certs::Sha256Hasher hasher;
  std::string buffer(kReadBlockBytes, '\0');
  for (;;) {
    ssize_t n = ::read(file.fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Internal("cannot read " + path.string() + ": " + ErrnoText());
    }
    if (n == 0) break;
    hasher.Update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  }
  return hasher.FinishHex();
}

}  // namespace topos::agent
