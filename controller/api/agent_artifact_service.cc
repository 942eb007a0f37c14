// AgentService: FetchArtifact, a server stream of 1 MiB chunks read from the
// artifact repository, starting at the requested offset.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "controller/api/agent_service.h"
#include "controller/api/caller.h"

namespace topos::controller {
namespace {

constexpr std::size_t kChunkBytes = 1 << 20;

bool IsLowerHexDigest(const std::string& text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// One FetchArtifact call. Identification, validation and every file read run
// on the executor; the reaction thread only starts the next read. One write
// is in flight at a time.
//
// Lifetime: deletes itself in OnDone. Thread-safety: at any moment exactly
// one of {a pending write, one executor task} owns the reactor's state and
// is the only one to call Finish; OnCancel only sets an atomic flag.
class FetchArtifactReactor final : public grpc::ServerWriteReactor<topos::v1::ArtifactChunk> {
 public:
  FetchArtifactReactor(ControllerContext& context, grpc::CallbackServerContext* call,
                       const topos::v1::FetchArtifactRequest* request)
      : context_(context), call_(call), request_(request) {
    context_.executor.Post([this] {
      grpc::Status opened = Open();
      if (!opened.ok()) {
        Finish(opened);
        return;
      }
      ReadAndWrite();
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke"));
      return;
    }
    if (offset_ >= size_) {
      Finish(grpc::Status::OK);
      return;
    }
    context_.executor.Post([this] { ReadAndWrite(); });
  }

  void OnCancel() override { cancelled_.store(true); }

  void OnDone() override {
    if (fd_ >= 0) ::close(fd_);
    delete this;
  }

 private:
  // On the executor: who is asking, for what, and opens the file.
  grpc::Status Open() {
    Caller caller;
    grpc::Status identified = IdentifyCaller(*call_, context_.revocations, "agent", &caller);
    if (!identified.ok()) return identified;
    host_ = caller.subject;
    const std::string& digest = request_->sha256();
    if (!IsLowerHexDigest(digest)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "sha256 \"" + digest.substr(0, 80) +
                              "\" is not 64 lowercase hex digits");
    }
    auto record = context_.store.GetArtifactByDigest(digest);
    if (!record.ok()) return ToGrpc(record.status());
    auto path = context_.artifacts.PathOf(digest);
    if (!path.ok()) return ToGrpc(path.status());
    size_ = record->size;
    if (request_->offset() > size_) {
      return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                          "offset " + std::to_string(request_->offset()) +
                              " is past the end of artifact " + digest + " (" +
                              std::to_string(size_) + " bytes)");
    }
    fd_ = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
    struct stat info {};
    if (fd_ < 0 || ::fstat(fd_, &info) != 0) {
      spdlog::error("artifact {}: cannot open {}: {}", digest, path->string(),
                    std::strerror(errno));
      return grpc::Status(grpc::StatusCode::INTERNAL, "the controller cannot read artifact " +
                                                          digest + "; see its log");
    }
    if (static_cast<std::uint64_t>(info.st_size) != size_) {
      spdlog::error("artifact {}: file {} holds {} bytes, recorded size is {}", digest,
                    path->string(), info.st_size, size_);
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          "the controller's copy of artifact " + digest +
                              " is damaged; push it again");
    }
    offset_ = request_->offset();
    spdlog::info("host={} fetching artifact {} from offset {}", host_, digest, offset_);
    return grpc::Status::OK;
  }

  // On the executor: reads the next chunk and writes it, or finishes.
  void ReadAndWrite() {
    if (cancelled_.load()) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the fetch was cancelled"));
      return;
    }
    if (offset_ >= size_) {  // nothing left, e.g. resumed at the very end
      Finish(grpc::Status::OK);
      return;
    }
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(kChunkBytes, size_ - offset_));
    std::string* data = chunk_.mutable_data();
    data->resize(want);
    std::size_t got = 0;
    while (got < want) {
      ssize_t n = ::pread(fd_, data->data() + got, want - got,
                          static_cast<off_t>(offset_ + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        spdlog::error("artifact {}: read at offset {} failed: {}", request_->sha256(),
                      offset_ + got, n < 0 ? std::strerror(errno) : "unexpected end of file");
        Finish(grpc::Status(grpc::StatusCode::INTERNAL, "the controller cannot read artifact " +
                                                            request_->sha256() + "; see its log"));
        return;
      }
      got += static_cast<std::size_t>(n);
    }
    chunk_.set_offset(offset_);
    chunk_.set_total_size(size_);
    offset_ += want;
    StartWrite(&chunk_);
  }

  ControllerContext& context_;
  grpc::CallbackServerContext* const call_;
  const topos::v1::FetchArtifactRequest* const request_;
  std::atomic<bool> cancelled_{false};
  std::string host_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t offset_ = 0;           // of the next chunk to read
  topos::v1::ArtifactChunk chunk_;     // the one write in flight
};

}  // namespace

grpc::ServerWriteReactor<topos::v1::ArtifactChunk>* AgentServiceHandler::FetchArtifact(
    grpc::CallbackServerContext* context, const topos::v1::FetchArtifactRequest* request) {
  return new FetchArtifactReactor(context_, context, request);
}

}  // namespace topos::controller
