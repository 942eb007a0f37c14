#include "controller/api/caller.h"

#include <algorithm>

#include "controller/api/caller_certificate_cache.h"
#include "controller/ca/certificate_issuer.h"

namespace topos::controller {
namespace {

// Room for every agent and operator of a large fleet (about 200 bytes each).
constexpr std::size_t kCachedCallerCertificates = 32768;

CallerCertificateCache& CallerCertificates() {
  static CallerCertificateCache cache(kCachedCallerCertificates);
  return cache;
}

}  // namespace

grpc::Status IdentifyCaller(const grpc::ServerContextBase& context,
                            const RevocationList& revocations, const std::string& required_unit,
                            Caller* caller) {
  auto auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "this call needs a client certificate issued by the controller's CA");
  }
  auto pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no client certificate on connection");
  }
  auto certificate =
      CallerCertificates().Lookup(std::string_view(pems.front().data(), pems.front().size()));
  if (!certificate.ok()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "unreadable client certificate: " + certificate.status().message());
  }
  if (revocations.IsRevoked(certificate->serial_hex)) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "certificate " + certificate->serial_hex + " (" +
                            certificate->common_name + ") has been revoked");
  }
  if (certificate->organizational_unit != required_unit) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "this call is for " + required_unit + " certificates; \"" +
                            certificate->common_name + "\" holds a(n) " +
                            (certificate->organizational_unit.empty()
                                 ? std::string("unknown")
                                 : certificate->organizational_unit) +
                            " certificate");
  }
  caller->subject = certificate->common_name;
  caller->unit = certificate->organizational_unit;
  caller->serial = certificate->serial_hex;
  caller->not_after = certificate->not_after;
  return grpc::Status::OK;
}

grpc::Status AuthorizeOperator(const grpc::ServerContextBase& context,
                               const RevocationList& revocations, Store& store,
                               const std::string& role, Caller* caller) {
  grpc::Status identified = IdentifyCaller(context, revocations, kOperatorUnit, caller);
  if (!identified.ok()) return identified;
  auto roles = store.GetOperatorRoles(caller->subject);
  if (!roles.ok()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "\"" + caller->subject + "\" is not a known operator");
  }
  if (!role.empty() && std::find(roles->begin(), roles->end(), role) == roles->end()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "operator \"" + caller->subject + "\" lacks the role " + role);
  }
  return grpc::Status::OK;
}

grpc::Status ToGrpc(const Status& status) {
  using Code = Status::Code;
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (status.code()) {
    case Code::kOk: return grpc::Status::OK;
    case Code::kInvalidArgument: code = grpc::StatusCode::INVALID_ARGUMENT; break;
    case Code::kNotFound: code = grpc::StatusCode::NOT_FOUND; break;
    case Code::kAlreadyExists: code = grpc::StatusCode::ALREADY_EXISTS; break;
    case Code::kPermissionDenied: code = grpc::StatusCode::PERMISSION_DENIED; break;
    case Code::kUnauthenticated: code = grpc::StatusCode::UNAUTHENTICATED; break;
    case Code::kFailedPrecondition: code = grpc::StatusCode::FAILED_PRECONDITION; break;
    case Code::kUnavailable: code = grpc::StatusCode::UNAVAILABLE; break;
    case Code::kInternal: code = grpc::StatusCode::INTERNAL; break;
  }
  return grpc::Status(code, status.message());
}

}  // namespace topos::controller
