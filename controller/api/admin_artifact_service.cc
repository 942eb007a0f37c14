// AdminService: PushArtifact (a client stream: header, then data chunks) and
// ListArtifacts.
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "controller/api/admin_service.h"

namespace topos::controller {
namespace {

constexpr std::size_t kMaxChunkBytes = 1 << 20;

std::int64_t Unix(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

void Describe(const ArtifactRecord& record, topos::v1::ArtifactInfo* info) {
  info->set_service(record.service);
  info->set_version(record.version);
  info->set_sha256(record.sha256);
  info->set_size(record.size);
  info->set_file_name(record.file_name);
  info->set_pushed_at_unix(Unix(record.pushed_at));
  info->set_pushed_by(record.pushed_by);
}

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

// One PushArtifact call. The reaction thread only checks the shape of each
// message; authorization and every disk write run on the executor. One read
// is in flight at a time and the next starts only after the previous chunk
// is written, so Append calls never overlap and a slow disk slows the
// client down instead of buffering in memory.
//
// Lifetime: deletes itself in OnDone. Thread-safety: at any moment exactly
// one of {a pending read, one executor task} owns the reactor's state;
// Finish is called exactly once, by whichever owns it.
class PushArtifactReactor final : public grpc::ServerReadReactor<topos::v1::PushArtifactChunk> {
 public:
  PushArtifactReactor(ControllerContext& context, grpc::CallbackServerContext* call,
                      topos::v1::PushArtifactResponse* response)
      : context_(context), call_(call), response_(response) {
    StartRead(&chunk_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed (all sent) or the call broke.
      if (call_->IsCancelled()) {
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the push was cancelled"));
        return;
      }
      context_.executor.Post([this] {
        grpc::Status committed = Commit();
        if (committed.ok()) {
          Finish(committed);
        } else {
          Refuse(committed);
        }
      });
      return;
    }
    if (!started_) {
      if (!chunk_.has_header() || !chunk_.data().empty()) {
        Refuse(Invalid("the first message of a push must carry only the header (service, "
                       "version, size, file_name, optional sha256) and no data"));
        return;
      }
      started_ = true;
      context_.executor.Post([this] { Continue(Begin()); });
      return;
    }
    if (chunk_.has_header()) {
      Refuse(Invalid("a push carries one header, in its first message; got a second one"));
      return;
    }
    if (chunk_.data().size() > kMaxChunkBytes) {
      Refuse(Invalid("a data chunk of " + std::to_string(chunk_.data().size()) +
                     " bytes is over the 1 MiB limit"));
      return;
    }
    context_.executor.Post([this] { Continue(ToGrpc(upload_->Append(chunk_.data()))); });
  }

  void OnDone() override { delete this; }

 private:
  // On the executor: reads the next message, or ends the call on an error.
  void Continue(const grpc::Status& status) {
    if (!status.ok()) {
      Refuse(status);
      return;
    }
    StartRead(&chunk_);
  }

  // Ends the call with an error, logged with who pushed (when known).
  void Refuse(const grpc::Status& status) {
    spdlog::warn("operator={} push refused: {}", caller_.subject.empty() ? "?" : caller_.subject,
                 status.error_message());
    Finish(status);
  }

  // On the executor.
  grpc::Status Begin() {
    grpc::Status authorized = AuthorizeOperator(*call_, context_.revocations, context_.store,
                                                kRoleDeployer, &caller_);
    if (!authorized.ok()) return authorized;
    const auto& header = chunk_.header();
    ArtifactRecord record;
    record.service = header.service();
    record.version = header.version();
    record.sha256 = header.sha256();
    record.size = header.size();
    record.file_name = header.file_name();
    record.pushed_at = std::chrono::system_clock::now();
    record.pushed_by = caller_.subject;
    auto upload = context_.artifacts.BeginUpload(record);
    if (!upload.ok()) return ToGrpc(upload.status());
    upload_ = std::move(*upload);
    return grpc::Status::OK;
  }

  // On the executor.
  grpc::Status Commit() {
    if (!upload_) {
      return Invalid("the push ended before its header: send the header first");
    }
    bool already_present = false;
    auto record = upload_->Commit(&already_present);
    upload_.reset();
    if (!record.ok()) return ToGrpc(record.status());
    Describe(*record, response_->mutable_artifact());
    response_->set_already_present(already_present);
    spdlog::info("operator={} pushed artifact service={} version={} sha256={} size={}{}",
                 caller_.subject, record->service, record->version, record->sha256,
                 record->size, already_present ? " (already present)" : "");
    return grpc::Status::OK;
  }

  ControllerContext& context_;
  grpc::CallbackServerContext* const call_;
  topos::v1::PushArtifactResponse* const response_;
  topos::v1::PushArtifactChunk chunk_;     // the one read in flight, or being handled
  bool started_ = false;                   // the header arrived
  Caller caller_;                          // set by Begin
  std::unique_ptr<ArtifactStore::Upload> upload_;  // set by Begin; destroyed removes the temp file
};

}  // namespace

grpc::ServerReadReactor<topos::v1::PushArtifactChunk>* AdminServiceHandler::PushArtifact(
    grpc::CallbackServerContext* context, topos::v1::PushArtifactResponse* response) {
  return new PushArtifactReactor(context_, context, response);
}

grpc::ServerUnaryReactor* AdminServiceHandler::ListArtifacts(
    grpc::CallbackServerContext* context, const topos::v1::ListArtifactsRequest* request,
    topos::v1::ListArtifactsResponse* response) {
  return Run(context, kAnyRole, [this, request, response](const Caller&) {
    auto artifacts = context_.store.ListArtifacts(request->service());
    if (!artifacts.ok()) return ToGrpc(artifacts.status());
    for (const auto& record : *artifacts) Describe(record, response->add_artifacts());
    return grpc::Status::OK;
  });
}

}  // namespace topos::controller
