// Who is calling: taken from the verified client certificate of the TLS
// connection, in this one place, for every authenticated call. Message
// fields never decide identity.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string>

#include "controller/ca/revocation_list.h"
#include "controller/store/store.h"

namespace topos::controller {

struct Caller {
  std::string subject;  // certificate CN: host FQDN or operator name
  std::string unit;     // certificate OU: "agent" or "operator"
  std::string serial;
  std::chrono::system_clock::time_point not_after;
};

// Unauthenticated if the connection has no verified client certificate,
// PermissionDenied if the certificate is revoked or not of `required_unit`.
grpc::Status IdentifyCaller(const grpc::ServerContextBase& context,
                            const RevocationList& revocations, const std::string& required_unit,
                            Caller* caller);

// IdentifyCaller for operators, then checks that the operator holds `role`
// (an empty role: any operator). Reads roles from the Store, so call it
// off gRPC's threads.
grpc::Status AuthorizeOperator(const grpc::ServerContextBase& context,
                               const RevocationList& revocations, Store& store,
                               const std::string& role, Caller* caller);

// Maps our Status to gRPC's.
grpc::Status ToGrpc(const Status& status);

}  // namespace topos::controller
