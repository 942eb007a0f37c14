// request_certificate and assign_certificate. The key is generated here and
// never leaves the host: it waits in .tls-pending/ (0600) until the
// certificate for it is issued and assigned.
//
// .tls-pending/ holds key.pem, then (once issued) cert.pem and ca.pem, and,
// for a certificate issued because RunStep.reissue was set, `reissued`
// naming its serial: that certificate is the answer to the reissue, so a
// resent or repeated reissue step assigns it instead of signing again.
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <set>
#include <system_error>
#include <thread>

#include "agent/steps/service_layout.h"
#include "certs/certificate.h"
#include "certs/csr.h"
#include "certs/private_key.h"
#include "common/file_io.h"
#include "common/service_certificate_names.h"

namespace topos::agent {
namespace fs = std::filesystem;

namespace {


// True if `pem` is a certificate for exactly `names` that is not yet due
// for renewal (two thirds of its lifetime).
bool StillGood(const std::string& pem, const std::vector<std::string>& names) {
  auto certificate = certs::Certificate::FromPem(pem);
  if (!certificate.ok()) return false;
  auto have = certificate->dns_names();
  if (std::set<std::string>(have.begin(), have.end()) != std::set<std::string>(names.begin(), names.end())) {
    return false;
  }
  auto lifetime = certificate->not_after() - certificate->not_before();
  return std::chrono::system_clock::now() < certificate->not_before() + lifetime * 2 / 3;
}

// Serial of a PEM certificate, "" if it does not parse.
std::string SerialOf(const std::string& pem) {
  auto certificate = certs::Certificate::FromPem(pem);
  return certificate.ok() ? certificate->serial_hex() : "";
}

// A step at or past its deadline still sends its request once, with this
// long to answer, rather than one that is certain to time out.
constexpr std::chrono::seconds kMinimumRequestTime{1};

// How long a reloaded service gets to act on its signal (and die of it, if
// it does not handle it) before its health check counts.
constexpr std::chrono::milliseconds kReloadSettle{500};

std::int64_t Unix(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// The request may take as long as the step has left: in a fleet-wide
// reissue the controller signs a queue of requests from every host at once,
// and a fixed 15 s call timeout failed steps (and stopped the rollout) that
// had minutes of their own budget left (docs/benchmarks.md, 10,000 agents).
Result<topos::v1::CertificateReply> Ask(StepContext& context, const StepRun& run,
                                        const topos::v1::CertificateRequest& request) {
  // The link's connection when it is up: a connection of the step's own
  // costs a mutual-TLS handshake per certificate on both sides.
  auto stub = context.controller_on_link ? context.controller_on_link() : nullptr;
  if (!stub) stub = context.controller();
  if (!stub) return Status::Unavailable("no connection to the controller to request a certificate");
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::max(run.Remaining(), std::chrono::milliseconds(kMinimumRequestTime)));
  topos::v1::CertificateReply reply;
  grpc::Status status = stub->RequestCertificate(&call, request, &reply);
  if (!status.ok()) {
    return Status::Unavailable("certificate request to the controller failed: " + status.error_message());
  }
  return reply;
}

// What both certificate steps start from. Nullopt: the service has no
// certificate binding, so there is nothing to do.
struct CertificateTarget {
  topos::v1::Service manifest;
  topos::v1::InstalledService record;
  ServiceLayout layout;
  TlsPaths paths;
};

Result<std::optional<CertificateTarget>> LoadTarget(StepContext& context, const StepRun& run) {
  auto manifest = FindManifest(context.state_dir, run.step.service());
  if (!manifest.ok()) return manifest.status();
  if (!manifest->has_certificate()) return std::optional<CertificateTarget>();
  auto record = context.journal->GetService(manifest->name());
  if (!record.ok()) return Status::FailedPrecondition(record.status().message() + ": install it first");
  ServiceLayout layout = LayoutOf(context, manifest->name());
  auto paths = TlsPathsOf(layout, EffectiveBinding(*manifest));
  if (!paths.ok()) return paths.status();
  return std::optional<CertificateTarget>(
      CertificateTarget{std::move(*manifest), std::move(*record), layout, *paths});
}

// Sends the manifest's reload signal to the running service, then waits for
// its health check, as StartAndCheck does after a start. Fails naming the
// service when it exits (or is restarted) instead of reloading, or does not
// become healthy; the record then says unhealthy.
Result<topos::v1::StepResult> ReloadAndCheck(StepContext& context, const StepRun& run,
                                             const topos::v1::Service& manifest,
                                             topos::v1::InstalledService& record) {
  const std::string& name = manifest.name();
  auto signal = ParseSignalName(manifest.reload());
  if (!signal.ok()) return signal.status().WithContext("reload of " + name);
  const pid_t pid = context.services->Query(name).pid;
  TOPOS_RETURN_IF_ERROR(context.services->Signal(name, *signal));
  // The supervisor notices an exit on Tick; the executor does not tick while
  // a step runs, so this check does.
  auto same_process = [&] {
    context.services->Tick();
    ServiceState state = context.services->Query(name);
    return state.phase == ServiceState::Phase::kRunning && state.pid == pid;
  };
  auto unhealthy = [&](const std::string& why) -> Status {
    std::string tail = LogTail(LayoutOf(context, name));
    record.set_health("unhealthy");
    (void)context.journal->PutService(record);
    return Status::FailedPrecondition(name + " did not stay healthy after " + manifest.reload() +
                                      " (reload for the new certificate): " + why +
                                      (tail.empty() ? "" : "\nlast output:\n" + tail));
  };
  const auto settled = std::chrono::steady_clock::now() + std::min(kReloadSettle, run.Remaining());
  while (std::chrono::steady_clock::now() < settled && run.TimeLeft()) {
    if (!same_process()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Status healthy = same_process() ? WaitHealthy(ProbeFor(context, manifest, run.Remaining()),
                                                same_process, &run.cancelled)
                                  : Status::FailedPrecondition("the service exited");
  if (healthy.ok() && !same_process()) healthy = Status::FailedPrecondition("the service exited");
  if (!healthy.ok()) return unhealthy(healthy.message());
  record.set_started_fingerprint(RunFingerprint(manifest, record));
  record.set_health("healthy");
  TOPOS_RETURN_IF_ERROR(context.journal->PutService(record));
  topos::v1::StepResult result;
  result.set_pid(pid);
  return result;
}

topos::v1::StepResult NothingToBind(const std::string& service) {
  topos::v1::StepResult result;
  result.set_summary(service + " needs no certificate");
  return result;
}

}  // namespace

Result<topos::v1::StepResult> RequestCertificateStep(StepContext& context, const StepRun& run,
                                                     bool* pending) {
  auto slice = ReadCurrentSlice(context.state_dir);
  if (!slice.ok()) return slice.status();
  auto target = LoadTarget(context, run);
  if (!target.ok()) return target.status();
  if (!*target) return NothingToBind(run.step.service());
  auto& [manifest, record, layout, paths] = **target;
  topos::v1::StepResult result;
  std::vector<std::string> names = ServiceCertificateNames(*slice, manifest, context.host_fqdn);

  // With reissue the assigned certificate is replaced even if still good;
  // a certificate already issued for a reissue and waiting to be assigned
  // still counts, so a resend does not sign twice.
  const bool reissue = run.step.reissue();
  auto assigned = ReadFile(paths.cert, 1 << 20);
  if (!reissue && assigned.ok() && StillGood(*assigned, names)) {
    result.set_summary("certificate " + record.certificate_serial() + " for " + manifest.name() +
                       " is current");
    return result;
  }
  auto waiting = ReadFile(layout.pending_tls() / "cert.pem", 1 << 20);
  if (waiting.ok() && StillGood(*waiting, names)) {
    const std::string serial = SerialOf(*waiting);
    auto marker = ReadFile(layout.pending_tls() / "reissued", 1024);
    const bool answers_reissue = marker.ok() && *marker == serial &&
                                 serial != record.certificate_serial() &&
                                 (!assigned.ok() || SerialOf(*assigned) != serial);
    if (!reissue || answers_reissue) {
      result.set_summary("certificate " + serial + " for " + manifest.name() +
                         " is issued and waits to be assigned");
      return result;
    }
  }

  topos::v1::CertificateRequest request;
  request.set_service(manifest.name());
  fs::path key_path = layout.pending_tls() / "key.pem";
  if (!record.pending_request_id().empty() && fs::exists(key_path)) {
    request.set_request_id(record.pending_request_id());
  } else {
    // A new key: whatever certificate waited for the old one is void.
    std::error_code error;
    for (const char* stale : {"cert.pem", "ca.pem", "reissued"}) {
      fs::remove(layout.pending_tls() / stale, error);
    }
    auto key = certs::PrivateKey::Generate();
    if (!key.ok()) return key.status();
    auto csr = certs::Csr::Create(*key, context.host_fqdn, names);
    if (!csr.ok()) return csr.status();
    TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(layout.pending_tls()));
    TOPOS_RETURN_IF_ERROR(WriteFileAtomically(key_path, key->ToPem(), 0600));
    request.set_csr_pem(csr->ToPem());
  }
  auto reply = Ask(context, run, request);
  if (!reply.ok()) return reply.status();
  result.set_certificate_request_id(reply->request_id());

  switch (reply->state()) {
    case topos::v1::CERTIFICATE_ISSUED: {
      auto key_pem = ReadFile(key_path, 1 << 20);
      if (!key_pem.ok()) return key_pem.status();
      auto key = certs::PrivateKey::FromPem(*key_pem);
      auto certificate = certs::Certificate::FromPem(reply->certificate_pem());
      if (!key.ok() || !certificate.ok() || !certificate->MatchesKey(*key)) {
        return Status::Internal("the controller returned a certificate that does not match our key");
      }
      TOPOS_RETURN_IF_ERROR(WriteFileAtomically(layout.pending_tls() / "cert.pem",
                                                reply->certificate_pem(), 0644));
      TOPOS_RETURN_IF_ERROR(WriteFileAtomically(layout.pending_tls() / "ca.pem",
                                                reply->ca_bundle_pem(), 0644));
      if (reissue) {
        TOPOS_RETURN_IF_ERROR(WriteFileAtomically(layout.pending_tls() / "reissued",
                                                  certificate->serial_hex(), 0644));
      }
      record.clear_pending_request_id();
      TOPOS_RETURN_IF_ERROR(context.journal->PutService(record));
      result.set_changed(true);
      std::string joined;
      for (const auto& name : names) joined += (joined.empty() ? "" : ", ") + name;
      result.set_summary("certificate " + certificate->serial_hex() + " issued for " + joined);
      return result;
    }
    case topos::v1::CERTIFICATE_PENDING:
      record.set_pending_request_id(reply->request_id());
      TOPOS_RETURN_IF_ERROR(context.journal->PutService(record));
      *pending = true;
      result.set_summary("certificate request " + reply->request_id() +
                         " waits for approval (" + reply->reason() +
                         "): toposctl certs approve " + reply->request_id());
      return result;
    case topos::v1::CERTIFICATE_DENIED: {
      record.clear_pending_request_id();
      TOPOS_RETURN_IF_ERROR(context.journal->PutService(record));
      std::error_code error;
      fs::remove_all(layout.pending_tls(), error);
      return Status::PermissionDenied("certificate request " + reply->request_id() +
                                      " was denied: " + reply->reason());
    }
    default:
      return Status::Internal("the controller answered the certificate request with no state");
  }
}

Result<topos::v1::StepResult> AssignCertificateStep(StepContext& context, const StepRun& run) {
  auto target = LoadTarget(context, run);
  if (!target.ok()) return target.status();
  if (!*target) return NothingToBind(run.step.service());
  auto& [manifest, record, layout, paths] = **target;
  topos::v1::StepResult result;

  auto cert_pem = ReadFile(layout.pending_tls() / "cert.pem", 1 << 20);
  std::optional<certs::Certificate> certificate;
  if (!cert_pem.ok()) {
    // Nothing waits: either it is assigned already, or an assignment was cut
    // off after the files were written but before the record was.
    auto installed = ReadFile(paths.cert, 1 << 20);
    auto parsed = installed.ok() ? certs::Certificate::FromPem(*installed)
                                 : Result<certs::Certificate>(installed.status());
    if (!parsed.ok() || !fs::exists(paths.key)) {
      return Status::FailedPrecondition("no issued certificate to assign for " + manifest.name() +
                                        ": run request_certificate first");
    }
    if (parsed->serial_hex() == record.certificate_serial()) {
      result.set_summary("certificate " + record.certificate_serial() + " already assigned");
      return result;
    }
    certificate = std::move(*parsed);
  } else {
    auto key_pem = ReadFile(layout.pending_tls() / "key.pem", 1 << 20);
    auto ca_pem = ReadFile(layout.pending_tls() / "ca.pem", 1 << 20);
    if (!key_pem.ok()) return key_pem.status();
    if (!ca_pem.ok()) return ca_pem.status();
    auto parsed = certs::Certificate::FromPem(*cert_pem);
    if (!parsed.ok()) return parsed.status();
    auto key = certs::PrivateKey::FromPem(*key_pem);
    if (!key.ok() || !parsed->MatchesKey(*key)) {
      return Status::FailedPrecondition("the certificate waiting in " +
                                        layout.pending_tls().string() +
                                        " does not match its key: run request_certificate again");
    }
    certificate = std::move(*parsed);
    std::error_code error;
    for (const fs::path* path : {&paths.cert, &paths.key, &paths.ca}) {
      fs::create_directories(path->parent_path(), error);
    }
    TOPOS_RETURN_IF_ERROR(WriteFileAtomically(paths.key, *key_pem, 0600));
    TOPOS_RETURN_IF_ERROR(WriteFileAtomically(paths.ca, *ca_pem, 0644));
    TOPOS_RETURN_IF_ERROR(WriteFileAtomically(paths.cert, *cert_pem, 0644));
    fs::remove_all(layout.pending_tls(), error);
  }

  record.set_certificate_serial(certificate->serial_hex());
  record.clear_certificate_names();
  for (const auto& name : certificate->dns_names()) record.add_certificate_names(name);
  record.set_certificate_not_after_unix(Unix(certificate->not_after()));
  TOPOS_RETURN_IF_ERROR(context.journal->PutService(record));
  result.set_changed(true);
  result.set_summary("certificate " + certificate->serial_hex() + " assigned to " + manifest.name());

  if (context.services->Query(manifest.name()).phase != ServiceState::Phase::kRunning) return result;
  // A running service picks the new certificate up: by signal, or by restart.
  if (!manifest.reload().empty() && manifest.reload() != "restart") {
    auto reloaded = ReloadAndCheck(context, run, manifest, record);
    if (!reloaded.ok()) return reloaded;
    result.set_pid(reloaded->pid());
    result.set_summary(result.summary() + "; sent " + manifest.reload() + ", reloaded, healthy");
    return result;
  }
  auto restarted = StartAndCheck(context, run, manifest, record);
  if (!restarted.ok()) return restarted.status().WithContext("restart with the new certificate");
  result.set_pid(restarted->pid());
  result.set_summary(result.summary() + "; restarted, healthy");
  return result;
}

}  // namespace topos::agent
