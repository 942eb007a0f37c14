// What the deployment steps need from the agent around them. Built by the
// agent's main (or a test) and shared by every step.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "agent/artifacts/artifact_cache.h"
#include "agent/service/service_manager.h"
#include "agent/steps/step_journal.h"
#include "common/status.h"
#include "topos/v1/agent.grpc.pb.h"
#include "topos/v1/agent.pb.h"
#include "topos/v1/topology.pb.h"

namespace topos::agent {

struct StepContext {
  std::filesystem::path state_dir;
  std::string host_fqdn;
  std::filesystem::path ca_file;               // the controller's CA bundle (trust for health checks)
  std::shared_ptr<StepJournal> journal;
  std::shared_ptr<ServiceManager> services;
  std::shared_ptr<ArtifactCache> artifacts;
  // A stub for unary calls to the controller (FetchArtifact, RequestCertificate);
  // may return null when there is no identity to call with.
  std::function<std::unique_ptr<topos::v1::AgentService::StubInterface>()> controller;
  // A stub on the link's own connection, for short calls (RequestCertificate),
  // which then cost the controller no mutual-TLS handshake each; null when
  // the link is not connected, and then `controller` is used. May be empty.
  std::function<std::unique_ptr<topos::v1::AgentService::StubInterface>()> controller_on_link;
  // The local store's applied version (the link updates it).
  std::function<std::uint64_t()> applied_config_version;
  // How long certificate requests wait between polls.
  std::chrono::milliseconds poll_interval{std::chrono::seconds(2)};
};

// One running step: its request, a cancel flag, and where its output goes.
struct StepRun {
  const topos::v1::RunStep& step;
  const std::atomic<bool>& cancelled;
  std::chrono::steady_clock::time_point deadline;
  std::function<void(std::string_view)> output;  // streams a chunk to the controller
  std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();
  // Details a failing step reports besides its error (unmet prerequisites,
  // the failed command's output tail); never null when the executor runs it.
  topos::v1::StepResult* failure_detail = nullptr;

  bool TimeLeft() const { return !cancelled.load() && std::chrono::steady_clock::now() < deadline; }
  std::chrono::milliseconds Remaining() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  }
};

// The current local store slice (STATE_DIR/store/current.json); NotFound before the first apply.
Result<topos::v1::HostConfig> ReadCurrentSlice(const std::filesystem::path& state_dir);
// The manifest of `service` in the current slice; NotFound naming the service.
Result<topos::v1::Service> FindManifest(const std::filesystem::path& state_dir,
                                        const std::string& service);

// Each step: the result, or a Status whose message becomes the failure.
// A step that needs someone else (certificate approval) returns with
// *pending set.
Result<topos::v1::StepResult> CheckPrerequisitesStep(StepContext& context, const StepRun& run);
Result<topos::v1::StepResult> SetupLocalStoreStep(StepContext& context, const StepRun& run);
Result<topos::v1::StepResult> InstallServiceStep(StepContext& context, const StepRun& run);
Result<topos::v1::StepResult> StartServiceStep(StepContext& context, const StepRun& run);
Result<topos::v1::StepResult> StopServiceStep(StepContext& context, const StepRun& run);
Result<topos::v1::StepResult> UninstallServiceStep(StepContext& context, const StepRun& run);
Result<topos::v1::StepResult> RollbackStep(StepContext& context, const StepRun& run);
Result<topos::v1::StepResult> RequestCertificateStep(StepContext& context, const StepRun& run,
                                                     bool* pending);
Result<topos::v1::StepResult> AssignCertificateStep(StepContext& context, const StepRun& run);

// Starts (or re-adopts) the services whose records say they should run;
// called once when the agent starts.
void AdoptServices(StepContext& context);
// The run spec the service manager gets for `service` (also used by adoption).
Result<ServiceRunSpec> BuildRunSpec(StepContext& context, const topos::v1::Service& manifest,
                                    const topos::v1::InstalledService& record);

}  // namespace topos::agent
