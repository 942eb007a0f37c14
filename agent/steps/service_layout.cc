#include "agent/steps/service_layout.h"

#include <unistd.h>

#include <deque>
#include <fstream>
#include <system_error>

#include <spdlog/spdlog.h>

#include "certs/crypto.h"
#include "common/file_io.h"

namespace topos::agent {
namespace fs = std::filesystem;

ServiceLayout LayoutOf(const StepContext& context, const std::string& service) {
  return ServiceLayout{context.journal->service_dir(service)};
}

Status SwitchCurrent(const ServiceLayout& layout, const std::string& version) {
  fs::path temporary = layout.dir / ".current.tmp";
  std::error_code error;
  fs::remove(temporary, error);
  fs::create_symlink(fs::path("versions") / version, temporary, error);
  if (error) return Status::Internal("link " + temporary.string() + ": " + error.message());
  fs::rename(temporary, layout.current(), error);
  if (error) return Status::Internal("switch " + layout.current().string() + ": " + error.message());
  return Status::Ok();
}

Result<fs::path> ServicePath(const ServiceLayout& layout, const std::string& field,
                             const std::string& relative, const std::string& fallback) {
  fs::path path(relative.empty() ? fallback : relative);
  if (path.is_absolute()) {
    return Status::InvalidArgument(field + " \"" + path.string() +
                                   "\" must be relative to the service directory");
  }
  for (const auto& part : path) {
    if (part == "..") {
      return Status::InvalidArgument(field + " \"" + path.string() + "\" must not contain \"..\"");
    }
  }
  return layout.dir / path;
}

topos::v1::CertificateBinding EffectiveBinding(const topos::v1::Service& manifest) {
  topos::v1::CertificateBinding binding = manifest.certificate();
  if (binding.cert_file().empty()) binding.set_cert_file("tls/cert.pem");
  if (binding.key_file().empty()) binding.set_key_file("tls/key.pem");
  if (binding.ca_file().empty()) binding.set_ca_file("tls/ca.pem");
  if (binding.cert_env().empty()) binding.set_cert_env("TOPOS_TLS_CERT");
  if (binding.key_env().empty()) binding.set_key_env("TOPOS_TLS_KEY");
  if (binding.ca_env().empty()) binding.set_ca_env("TOPOS_TLS_CA");
  return binding;
}

Result<TlsPaths> TlsPathsOf(const ServiceLayout& layout,
                           const topos::v1::CertificateBinding& binding) {
  auto cert = ServicePath(layout, "certificate.cert_file", binding.cert_file(), "");
  if (!cert.ok()) return cert.status();
  auto key = ServicePath(layout, "certificate.key_file", binding.key_file(), "");
  if (!key.ok()) return key.status();
  auto ca = ServicePath(layout, "certificate.ca_file", binding.ca_file(), "");
  if (!ca.ok()) return ca.status();
  return TlsPaths{*cert, *key, *ca};
}

HealthProbe ProbeFor(const StepContext& context, const topos::v1::Service& manifest,
                     std::chrono::milliseconds remaining) {
  HealthProbe probe;
  const auto& check = manifest.health_check();
  auto timeout = std::chrono::milliseconds(std::chrono::seconds(
      check.timeout_seconds() == 0 ? 30 : check.timeout_seconds()));
  probe.timeout = std::max(std::chrono::milliseconds(0), std::min(timeout, remaining));
  probe.https_ca_file = context.ca_file;
  switch (check.probe_case()) {
    case topos::v1::HealthCheck::kTcpPort:
      probe.kind = HealthProbe::Kind::kTcp;
      probe.tcp_port = static_cast<int>(check.tcp_port());
      break;
    case topos::v1::HealthCheck::kHttpUrl:
      probe.kind = HealthProbe::Kind::kHttp;
      probe.http_url = check.http_url();
      break;
    case topos::v1::HealthCheck::kCommand: {
      probe.kind = HealthProbe::Kind::kCommand;
      // An argument vector split on spaces: never a shell.
      std::string word;
      for (char c : check.command() + " ") {
        if (c == ' ' || c == '\t') {
          if (!word.empty()) probe.command.argv.push_back(std::move(word));
          word.clear();
        } else {
          word += c;
        }
      }
      probe.command.timeout = std::chrono::seconds(5);
      probe.command.working_dir = LayoutOf(context, manifest.name()).current();
      break;
    }
    default:
      probe.kind = HealthProbe::Kind::kNone;
  }
  return probe;
}

std::string RunFingerprint(const topos::v1::Service& manifest,
                           const topos::v1::InstalledService& record) {
  std::string material;
  manifest.SerializeToString(&material);
  material += '\0' + record.version() + '\0' + record.certificate_serial();
  return certs::Sha256Hex(material);
}

std::string LogTail(const ServiceLayout& layout, int lines) {
  std::ifstream in(layout.log_file(), std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = std::max<std::streamoff>(0, size - 8192);
  in.seekg(start);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::deque<std::string> kept;
  std::string line;
  for (char c : text) {
    if (c == '\n') {
      kept.push_back(std::move(line));
      line.clear();
      if (static_cast<int>(kept.size()) > lines) kept.pop_front();
    } else {
      line += c;
    }
  }
  if (!line.empty()) kept.push_back(line);
  while (static_cast<int>(kept.size()) > lines) kept.pop_front();
  std::string tail;
  for (const auto& l : kept) tail += l + "\n";
  return tail;
}

Result<topos::v1::StepResult> StartAndCheck(StepContext& context, const StepRun& run,
                                            const topos::v1::Service& manifest,
                                            topos::v1::InstalledService& record) {
  auto spec = BuildRunSpec(context, manifest, record);
  if (!spec.ok()) return spec.status();
  TOPOS_RETURN_IF_ERROR(context.services->Start(*spec));
  const std::string name = manifest.name();
  // Step overhead as docs/benchmarks.md reports it: step received to child spawned.
  spdlog::info("{}: process spawned {} us after the step was received", name,
               std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now() - run.started_at)
                   .count());
  Status healthy = WaitHealthy(
      ProbeFor(context, manifest, run.Remaining()),
      [&] { return context.services->Query(name).phase == ServiceState::Phase::kRunning; },
      &run.cancelled);
  if (!healthy.ok()) {
    std::string tail = LogTail(LayoutOf(context, name));
    (void)context.services->Stop(name);
    record.set_health("unhealthy");
    record.set_should_run(false);
    (void)context.journal->PutService(record);
    return Status::FailedPrecondition(healthy.message() +
                                      (tail.empty() ? "" : "\nlast output:\n" + tail));
  }
  record.set_should_run(true);
  record.set_started_version(record.version());
  record.set_started_fingerprint(RunFingerprint(manifest, record));
  record.set_health("healthy");
  TOPOS_RETURN_IF_ERROR(context.journal->PutService(record));
  topos::v1::StepResult result;
  result.set_changed(true);
  result.set_pid(context.services->Query(name).pid);
  result.set_version(record.version());
  result.set_summary(name + " " + record.version() + " running (pid " +
                     std::to_string(result.pid()) + "), health check passed");
  return result;
}

}  // namespace topos::agent
