// Where a service's files live on the host, and the small helpers every
// service step shares.
//
//   STATE_DIR/services/NAME/versions/VERSION/   unpacked artifacts (current and previous)
//   STATE_DIR/services/NAME/current             symlink to versions/VERSION, switched atomically
//   STATE_DIR/services/NAME/tls/                assigned certificate, key (0600), CA chain
//   STATE_DIR/services/NAME/.tls-pending/       a requested certificate not yet assigned
//   STATE_DIR/services/NAME/service.log         the service's output
#pragma once

#include <filesystem>
#include <string>

#include "agent/checks/health_check.h"
#include "agent/steps/step_context.h"

namespace topos::agent {

struct ServiceLayout {
  std::filesystem::path dir;
  std::filesystem::path versions() const { return dir / "versions"; }
  std::filesystem::path version(const std::string& v) const { return dir / "versions" / v; }
  std::filesystem::path current() const { return dir / "current"; }
  std::filesystem::path pending_tls() const { return dir / ".tls-pending"; }
  std::filesystem::path log_file() const { return dir / "service.log"; }
};

ServiceLayout LayoutOf(const StepContext& context, const std::string& service);

// Points `current` at versions/VERSION with a rename, so readers see the old
// link or the new one.
Status SwitchCurrent(const ServiceLayout& layout, const std::string& version);

// A path from the manifest, relative to the service directory: refuses
// absolute paths and `..` (InvalidArgument naming the field).
Result<std::filesystem::path> ServicePath(const ServiceLayout& layout, const std::string& field,
                                          const std::string& relative, const std::string& fallback);

// The certificate binding with defaults filled in (TOPOS_TLS_* variables, tls/*.pem files).
topos::v1::CertificateBinding EffectiveBinding(const topos::v1::Service& manifest);

// Where the binding puts certificate, key and CA chain (absolute paths).
struct TlsPaths {
  std::filesystem::path cert;
  std::filesystem::path key;
  std::filesystem::path ca;
};
Result<TlsPaths> TlsPathsOf(const ServiceLayout& layout, const topos::v1::CertificateBinding& binding);

// The health probe a manifest asks for, bounded by the step's remaining time.
HealthProbe ProbeFor(const StepContext& context, const topos::v1::Service& manifest,
                     std::chrono::milliseconds remaining);

// What the running process was started from: manifest, version and certificate.
std::string RunFingerprint(const topos::v1::Service& manifest,
                           const topos::v1::InstalledService& record);

// The last `lines` lines of the service's log, for failure reports.
std::string LogTail(const ServiceLayout& layout, int lines = 20);

// Starts the service from its record and waits for its health check.
// Records should_run, the fingerprint and health on success.
Result<topos::v1::StepResult> StartAndCheck(StepContext& context, const StepRun& run,
                                            const topos::v1::Service& manifest,
                                            topos::v1::InstalledService& record);

}  // namespace topos::agent
