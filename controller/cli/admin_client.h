// toposctl's connection to the controller: finds the address and operator
// credentials (flags, then TOPOS_CONTROLLER / TOPOS_CREDS), opens a mutual
// TLS channel, and turns gRPC failures into messages an operator can act on.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "topos/v1/admin.grpc.pb.h"

namespace topos::cli {

struct ConnectionOptions {
  std::string controller;  // HOST:PORT; empty: $TOPOS_CONTROLLER, then localhost:7443
  std::string creds_dir;   // ca.pem, cert.pem, key.pem; empty: $TOPOS_CREDS
};

class AdminClient {
 public:
  static Result<AdminClient> Connect(const ConnectionOptions& options);

  topos::v1::AdminService::Stub& stub() { return *stub_; }
  const std::string& address() const { return address_; }
  // A context with the default deadline.
  std::unique_ptr<grpc::ClientContext> NewContext() const;
  // "cannot reach the controller at ...", "permission denied: ...", etc.
  Status Explain(const grpc::Status& status) const;

 private:
  std::string address_;
  std::shared_ptr<topos::v1::AdminService::Stub> stub_;
};

}  // namespace topos::cli
