#include "controller/artifacts/artifact_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

#include "certs/crypto.h"

namespace topos::controller {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxFileNameBytes = 255;
constexpr char kDigestPrefix[] = "sha256:";

bool IsLowerHexDigest(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status CheckServiceName(const std::string& service) {
  bool ok = !service.empty() && service.size() <= 63;
  for (std::size_t i = 0; ok && i < service.size(); ++i) {
    char c = service[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    ok = alnum || (i > 0 && c == '-');
  }
  if (ok) return Status::Ok();
  return Status::InvalidArgument("service name \"" + service +
                                 "\" is not valid: use 1..63 of [a-z0-9-], starting with a "
                                 "letter or digit");
}

Status CheckVersion(const std::string& version) {
  bool ok = !version.empty() && version.size() <= 64;
  for (char c : version) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '+' || c == '-');
  }
  if (ok) return Status::Ok();
  return Status::InvalidArgument("version \"" + version +
                                 "\" is not valid: use 1..64 of [A-Za-z0-9._+-]");
}

std::string ErrnoText() { return std::strerror(errno); }

// Creates `dir` with mode 0750 if missing (parents too).
Status EnsureDirectory(const fs::path& dir) {
  std::error_code error;
  if (fs::is_directory(dir, error)) return Status::Ok();
  fs::create_directories(dir, error);
  if (error) {
    return Status::Internal("cannot create artifact directory " + dir.string() + ": " +
                            error.message());
  }
  fs::permissions(dir, fs::perms(0750), fs::perm_options::replace, error);
  if (error) {
    return Status::Internal("cannot set permissions on " + dir.string() + ": " + error.message());
  }
  return Status::Ok();
}

// An upload into DIR/tmp/<random>. Used by one thread at a time (the caller
// serializes Append and Commit); the destructor removes the temp file unless
// Commit moved it into place.
class FileUpload final : public ArtifactStore::Upload {
 public:
  FileUpload(ArtifactRecord header, fs::path temp_path, int fd, fs::path final_dir, Store& store)
      : header_(std::move(header)),
        temp_path_(std::move(temp_path)),
        fd_(fd),
        final_dir_(std::move(final_dir)),
        store_(store) {}

  ~FileUpload() override {
    if (fd_ >= 0) ::close(fd_);
    if (!temp_path_.empty()) {
      std::error_code ignored;
      fs::remove(temp_path_, ignored);
    }
  }

  Status Append(std::string_view data) override {
    if (fd_ < 0) return Status::FailedPrecondition("the upload is already finished");
    if (data.size() > header_.size - received_) {
      return Status::InvalidArgument("more data than the declared size of " +
                                     std::to_string(header_.size) + " bytes");
    }
    for (std::size_t done = 0; done < data.size();) {
      ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::Internal("cannot write " + temp_path_.string() + ": " + ErrnoText());
      }
      done += static_cast<std::size_t>(n);
    }
    hasher_.Update(data);
    received_ += data.size();
    return Status::Ok();
  }

  Result<ArtifactRecord> Commit(bool* already_present) override {
    *already_present = false;
    if (fd_ < 0) return Status::FailedPrecondition("the upload is already finished");
    if (received_ != header_.size) {
      return Status::InvalidArgument("received " + std::to_string(received_) +
                                     " bytes but the header declared " +
                                     std::to_string(header_.size));
    }
    const std::string digest = hasher_.FinishHex();
    if (!header_.sha256.empty() && header_.sha256 != digest) {
      return Status::InvalidArgument("the uploaded bytes have sha256 " + digest +
                                     " but the header declared " + header_.sha256 +
                                     "; the file changed or was damaged in transit");
    }
    if (::fsync(fd_) != 0 || ::fchmod(fd_, 0644) != 0) {
      return Status::Internal("cannot finish " + temp_path_.string() + ": " + ErrnoText());
    }
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      return Status::Internal("cannot close " + temp_path_.string() + ": " + ErrnoText());
    }

    ArtifactRecord record = header_;
    record.sha256 = digest;
    if (auto existing = store_.GetArtifact(record.service, record.version); existing.ok()) {
      if (existing->sha256 != digest) {
        return Status::AlreadyExists("an artifact for service \"" + record.service +
                                     "\" version \"" + record.version +
                                     "\" is already stored with sha256 " + existing->sha256 +
                                     " (pushed: " + digest + "); push it under a new version");
      }
      *already_present = true;
      record = *existing;
    }

    TOPOS_RETURN_IF_ERROR(EnsureDirectory(final_dir_));
    const fs::path target = final_dir_ / digest;
    std::error_code error;
    bool placed_new = false;
    if (fs::exists(target, error)) {
      // Content-addressed: the same bytes are already stored.
      fs::remove(temp_path_, error);
    } else {
      fs::rename(temp_path_, target, error);
      if (error) {
        return Status::Internal("cannot move the artifact into " + target.string() + ": " +
                                error.message());
      }
      placed_new = true;
    }
    temp_path_.clear();

    if (!*already_present) {
      Status inserted = store_.InsertArtifact(record);
      if (!inserted.ok()) {
        // A concurrent push may have recorded something else meanwhile; keep
        // the file only if some record still refers to it.
        if (placed_new && !store_.GetArtifactByDigest(digest).ok()) fs::remove(target, error);
        return inserted;
      }
    }
    return record;
  }

 private:
  ArtifactRecord header_;
  fs::path temp_path_;  // empty once moved or removed
  int fd_;              // -1 once closed
  fs::path final_dir_;
  Store& store_;
  certs::Sha256Hasher hasher_;
  std::uint64_t received_ = 0;
};

}  // namespace

ArtifactStore::ArtifactStore(std::filesystem::path dir, Store& store)
    : dir_(std::move(dir)), store_(store) {}

Result<std::unique_ptr<ArtifactStore::Upload>> ArtifactStore::BeginUpload(
    const ArtifactRecord& header) {
  TOPOS_RETURN_IF_ERROR(CheckServiceName(header.service));
  TOPOS_RETURN_IF_ERROR(CheckVersion(header.version));
  if (header.size == 0 || header.size > kMaxArtifactBytes) {
    return Status::InvalidArgument("artifact size " + std::to_string(header.size) +
                                   " is out of range: 1.." + std::to_string(kMaxArtifactBytes) +
                                   " bytes");
  }
  if (!header.sha256.empty() && !IsLowerHexDigest(header.sha256)) {
    return Status::InvalidArgument("sha256 \"" + header.sha256 +
                                   "\" is not 64 lowercase hex digits");
  }
  if (header.file_name.size() > kMaxFileNameBytes) {
    return Status::InvalidArgument("file name is longer than 255 bytes");
  }
  // Refuse early what Commit would refuse anyway, before any byte is sent.
  if (!header.sha256.empty()) {
    if (auto existing = store_.GetArtifact(header.service, header.version);
        existing.ok() && existing->sha256 != header.sha256) {
      return Status::AlreadyExists("an artifact for service \"" + header.service +
                                   "\" version \"" + header.version +
                                   "\" is already stored with sha256 " + existing->sha256 +
                                   " (pushed: " + header.sha256 +
                                   "); push it under a new version");
    }
  }

  TOPOS_RETURN_IF_ERROR(EnsureDirectory(dir_));
  const fs::path tmp = dir_ / "tmp";
  TOPOS_RETURN_IF_ERROR(EnsureDirectory(tmp));
  const fs::path temp_path = tmp / (certs::HexEncode(certs::RandomBytes(16)) + ".upload");
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Internal("cannot create " + temp_path.string() + ": " + ErrnoText());
  }
  ArtifactRecord record = header;
  if (record.pushed_at == TimePoint{}) record.pushed_at = std::chrono::system_clock::now();
  return std::unique_ptr<Upload>(
      std::make_unique<FileUpload>(std::move(record), temp_path, fd, dir_ / "sha256", store_));
}

Result<ArtifactRecord> ArtifactStore::Resolve(const std::string& service,
                                              const std::string& version,
                                              const std::string& reference) {
  if (reference.rfind(kDigestPrefix, 0) == 0) {
    const std::string digest = reference.substr(sizeof(kDigestPrefix) - 1);
    if (!IsLowerHexDigest(digest)) {
      return Status::InvalidArgument("artifact reference \"" + reference +
                                     "\" is not sha256: followed by 64 lowercase hex digits");
    }
    auto record = store_.GetArtifactByDigest(digest);
    if (!record.ok() && record.status().code() == Status::Code::kNotFound) {
      return Status::NotFound("no artifact with sha256 " + digest + " (wanted by service \"" +
                              service + "\"): push it with toposctl artifact push FILE --service " +
                              service + " --version " + version);
    }
    return record;
  }
  auto record = store_.GetArtifact(service, version);
  if (!record.ok() && record.status().code() == Status::Code::kNotFound) {
    return Status::NotFound("no artifact for service \"" + service + "\" version \"" + version +
                            "\": push one with toposctl artifact push FILE --service " + service +
                            " --version " + version);
  }
  return record;
}

Result<std::filesystem::path> ArtifactStore::PathOf(const std::string& sha256) {
  if (!IsLowerHexDigest(sha256)) {
    return Status::InvalidArgument("sha256 \"" + sha256 + "\" is not 64 lowercase hex digits");
  }
  auto record = store_.GetArtifactByDigest(sha256);
  if (!record.ok()) return record.status();
  fs::path path = dir_ / "sha256" / sha256;
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    return Status::NotFound("artifact sha256 " + sha256 + " is recorded but its file " +
                            path.string() + " is missing; push it again");
  }
  return path;
}

}  // namespace topos::controller
