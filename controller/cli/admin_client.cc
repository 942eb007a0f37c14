#include "controller/cli/admin_client.h"

#include <cstdlib>
#include <filesystem>

#include "common/file_io.h"
#include "common/grpc_tls.h"
#include "common/text.h"

namespace topos::cli {

Result<AdminClient> AdminClient::Connect(const ConnectionOptions& options) {
  AdminClient client;
  client.address_ = options.controller;
  if (client.address_.empty()) {
    const char* env = std::getenv("TOPOS_CONTROLLER");
    client.address_ = env && *env ? env : "localhost:7443";
  }
  TOPOS_RETURN_IF_ERROR(CheckHostPort(client.address_).WithContext("--controller"));
  std::string creds = options.creds_dir;
  if (creds.empty()) {
    const char* env = std::getenv("TOPOS_CREDS");
    if (!env || !*env) {
      return Status::InvalidArgument(
          "no operator credentials: pass --creds DIR or set TOPOS_CREDS (the directory with "
          "ca.pem, cert.pem and key.pem, e.g. DATA_DIR/admin)");
    }
    creds = env;
  }
  std::filesystem::path dir(creds);
  TlsIdentity identity;
  auto ca = ReadFile(dir / "ca.pem");
  auto cert = ReadFile(dir / "cert.pem");
  auto key = ReadFile(dir / "key.pem");
  for (const auto* r : {&ca, &cert, &key}) {
    if (!r->ok()) return r->status().WithContext("credentials in " + creds);
  }
  identity.ca_bundle_pem = *ca;
  identity.certificate_pem = *cert;
  identity.private_key_pem = *key;
  auto channel = MakeChannel(client.address_, MakeMutualTlsCredentials(identity));
  client.stub_ = topos::v1::AdminService::NewStub(channel);
  return client;
}

std::unique_ptr<grpc::ClientContext> AdminClient::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + kDefaultCallTimeout);
  return context;
}

Status AdminClient::Explain(const grpc::Status& status) const {
  const std::string& message = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::OK: return Status::Ok();
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Status::Unavailable("cannot reach the controller at " + address_ + " (" + message +
                                 "); is it running? check --controller / TOPOS_CONTROLLER");
    case grpc::StatusCode::UNAUTHENTICATED:
      return Status::Unauthenticated("the controller did not accept these credentials: " + message);
    case grpc::StatusCode::PERMISSION_DENIED:
      return Status::PermissionDenied("permission denied: " + message);
    case grpc::StatusCode::NOT_FOUND: return Status::NotFound(message);
    case grpc::StatusCode::INVALID_ARGUMENT: return Status::InvalidArgument(message);
    case grpc::StatusCode::ALREADY_EXISTS: return Status::AlreadyExists(message);
    case grpc::StatusCode::FAILED_PRECONDITION: return Status::FailedPrecondition(message);
    default: return Status::Internal("controller error: " + message);
  }
}

}  // namespace topos::cli
