#include "agent/link/enroller.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "agent/facts/host_facts.h"
#include "agent/state/agent_state.h"
#include "certs/certificate.h"
#include "certs/csr.h"
#include "common/grpc_tls.h"
#include "common/text.h"
#include "topos/v1/agent.grpc.pb.h"

namespace topos::agent {
namespace {

Status FromGrpc(const grpc::Status& status, const std::string& step,
                const std::string& controller) {
  std::string message = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Status::Unavailable(step + ": cannot reach the controller at " + controller + " (" +
                                 message + ")");
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return Status::PermissionDenied(step + ": the controller refused: " + message);
    default:
      return Status::InvalidArgument(step + ": " + message);
  }
}

std::string LocalHostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "";
  std::string result(name);
  std::transform(result.begin(), result.end(), result.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return result;
}

std::chrono::system_clock::time_point Deadline(std::chrono::seconds timeout) {
  return std::chrono::system_clock::now() + timeout;
}

}  // namespace

Result<std::string> NormalizeFingerprint(const std::string& text) {
  std::string hex;
  for (char c : text) {
    if (c == ':') continue;
    hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  bool ok = hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
              return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            });
  if (!ok) return Status::InvalidArgument("--ca-sha256 must be 64 hexadecimal digits");
  return hex;
}

Status Enroll(const EnrollOptions& options) {
  TOPOS_RETURN_IF_ERROR(CheckHostPort(options.controller).WithContext("--controller"));
  if (options.token.empty()) return Status::InvalidArgument("--token is empty");
  auto pinned = NormalizeFingerprint(options.ca_sha256);
  if (!pinned.ok()) return pinned.status();
  std::string host = options.host_fqdn.empty() ? LocalHostName() : options.host_fqdn;
  TOPOS_RETURN_IF_ERROR(CheckFqdn(host).WithContext(options.host_fqdn.empty()
                                                        ? "this machine's host name (pass --host)"
                                                        : "--host"));
  StateDir state_dir(options.state_dir);
  if (state_dir.IsEnrolled()) {
    return Status::AlreadyExists(options.state_dir.string() +
                                 " already holds an enrollment; use `topos-agent run` with it, or "
                                 "remove the directory to enroll again");
  }

  // Step 1: the CA bundle, trusted only once its fingerprint matches.
  auto bootstrap = topos::v1::AgentService::NewStub(
      MakeChannel(options.controller, MakeUnverifiedTlsCredentials()));
  grpc::ClientContext ca_context;
  ca_context.set_deadline(Deadline(options.timeout));
  topos::v1::GetCaBundleResponse ca_response;
  grpc::Status got = bootstrap->GetCaBundle(&ca_context, {}, &ca_response);
  if (!got.ok()) return FromGrpc(got, "fetching the CA", options.controller);
  auto bundle = certs::Certificate::BundleFromPem(ca_response.ca_bundle_pem());
  if (!bundle.ok()) return bundle.status().WithContext("the controller's CA bundle");
  std::string presented = bundle->front().Sha256Fingerprint();
  // During a CA rotation the bundle holds the old CA too. Only the CA that
  // signs now (listed first) is pinned: trusting whatever else a bundle
  // lists would let a man in the middle add a CA of his own.
  bool pinned_is_older = std::any_of(bundle->begin() + 1, bundle->end(), [&](const auto& ca) {
    return ca.Sha256Fingerprint() == *pinned;
  });
  if (presented != *pinned && pinned_is_older) {
    return Status::PermissionDenied(
        "the token pins the controller's previous CA (SHA-256 " + *pinned +
        "): the CA was rotated after the token was made; create a new token with "
        "`toposctl token create`");
  }
  if (presented != *pinned) {
    return Status::PermissionDenied(
        "CA fingerprint mismatch: the controller at " + options.controller +
        " presented a CA with SHA-256 " + presented + ", but --ca-sha256 is " + *pinned +
        "; refusing to enroll (wrong controller, or someone in the middle)");
  }

  // Step 2: key and CSR, made here.
  auto key = certs::PrivateKey::Generate(options.key_type);
  if (!key.ok()) return key.status();
  auto csr = certs::Csr::Create(*key, host, {host});
  if (!csr.ok()) return csr.status();

  // Step 3: enroll over TLS verified against the pinned CA.
  auto stub = topos::v1::AgentService::NewStub(
      MakeChannel(options.controller, MakeServerOnlyTlsCredentials(ca_response.ca_bundle_pem())));
  topos::v1::EnrollRequest request;
  request.set_token(options.token);
  request.set_host_fqdn(host);
  request.set_csr_pem(csr->ToPem());
  *request.mutable_facts() = CollectHostFacts(options.state_dir);
  topos::v1::EnrollResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline(options.timeout));
  grpc::Status enrolled = stub->Enroll(&context, request, &response);
  if (!enrolled.ok()) return FromGrpc(enrolled, "enrolling", options.controller);

  // Step 4: check what came back before keeping it.
  auto certificate = certs::Certificate::FromPem(response.certificate_pem());
  if (!certificate.ok()) return certificate.status().WithContext("issued certificate");
  if (!certificate->MatchesKey(*key)) {
    return Status::Internal("the issued certificate does not match the key sent");
  }
  TOPOS_RETURN_IF_ERROR(certs::VerifyChain(*certificate, *bundle, {}, certs::Usage::kClient)
                            .WithContext("issued certificate"));
  AgentState state{options.controller, host,
                   TlsIdentity{ca_response.ca_bundle_pem(), response.certificate_pem(),
                               key->ToPem()}};
  TOPOS_RETURN_IF_ERROR(state_dir.Save(state));
  spdlog::info("enrolled as {} (certificate serial {}, expires in {}h)", host,
               certificate->serial_hex(),
               std::chrono::duration_cast<std::chrono::hours>(certificate->not_after() -
                                                               std::chrono::system_clock::now())
                   .count());
  return Status::Ok();
}

}  // namespace topos::agent
