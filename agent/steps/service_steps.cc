// check_prerequisites, setup_local_store, install_service, start_service,
// stop_service, uninstall_service and rollback. Each finds out first whether
// there is anything to do, so running it again changes nothing.
#include <google/protobuf/util/json_util.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <system_error>
#include <thread>

#include "agent/checks/prerequisites.h"
#include "agent/install/safe_unpack.h"
#include "agent/process/command_runner.h"
#include "agent/steps/service_layout.h"
#include "common/file_io.h"

namespace topos::agent {
namespace fs = std::filesystem;

Result<topos::v1::HostConfig> ReadCurrentSlice(const fs::path& state_dir) {
  fs::path path = state_dir / "store" / "current.json";
  if (!fs::exists(path)) {
    return Status::NotFound("the local store holds no configuration yet (publish a topology)");
  }
  auto json = ReadFile(path, 64 << 20);
  if (!json.ok()) return json.status();
  topos::v1::HostConfig config;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(*json, &config, options).ok()) {
    return Status::Internal(path.string() + " is not a valid configuration snapshot");
  }
  return config;
}

Result<topos::v1::Service> FindManifest(const fs::path& state_dir, const std::string& service) {
  auto slice = ReadCurrentSlice(state_dir);
  if (!slice.ok()) return slice.status();
  for (const auto& candidate : slice->services()) {
    if (candidate.name() == service) return candidate;
  }
  return Status::NotFound("service \"" + service + "\" is not in this host's configuration (version " +
                          std::to_string(slice->version()) + ")");
}

Result<ServiceRunSpec> BuildRunSpec(StepContext& context, const topos::v1::Service& manifest,
                                    const topos::v1::InstalledService& record) {
  ServiceLayout layout = LayoutOf(context, manifest.name());
  if (manifest.start().argv().empty()) {
    return Status::InvalidArgument("service \"" + manifest.name() +
                                   "\" has no start command (services[].start.argv)");
  }
  ServiceRunSpec spec;
  spec.name = manifest.name();
  spec.version = record.version();
  for (const auto& arg : manifest.start().argv()) spec.command.argv.push_back(arg);
  spec.command.shell = manifest.start().shell();
  fs::path program(spec.command.argv[0]);
  if (!spec.command.shell && program.is_relative() && spec.command.argv[0].find('/') != std::string::npos) {
    auto resolved = ServicePath(layout, "start.argv[0]", (fs::path("current") / program).string(), "");
    if (!resolved.ok()) return resolved.status();
    spec.command.argv[0] = resolved->string();
  }
  auto working = ServicePath(layout, "working_dir",
                             (fs::path("current") / manifest.working_dir()).string(), "current");
  if (!working.ok()) return working.status();
  spec.command.working_dir = *working;
  for (const auto& variable : manifest.env()) {
    spec.command.env.emplace_back(variable.name(), variable.value());
  }
  spec.command.env.emplace_back("TOPOS_SERVICE_DIR", layout.dir.string());
  spec.command.env.emplace_back("TOPOS_HOST_FQDN", context.host_fqdn);
  spec.command.env.emplace_back("TOPOS_STORE_SNAPSHOT",
                                (context.state_dir / "store" / "current.json").string());
  if (manifest.has_certificate()) {
    auto binding = EffectiveBinding(manifest);
    auto paths = TlsPathsOf(layout, binding);
    if (!paths.ok()) return paths.status();
    spec.command.env.emplace_back(binding.cert_env(), paths->cert.string());
    spec.command.env.emplace_back(binding.key_env(), paths->key.string());
    spec.command.env.emplace_back(binding.ca_env(), paths->ca.string());
  }
  if (!manifest.run_as().empty()) {
    auto user = LookUpUser(manifest.run_as());
    if (!user.ok()) return user.status();
    spec.command.run_as = *user;
  }
  if (!manifest.stop_signal().empty()) {
    auto signal = ParseSignalName(manifest.stop_signal());
    if (!signal.ok()) return signal.status();
    spec.stop_signal = *signal;
  }
  if (manifest.stop_timeout_seconds() > 0) {
    spec.stop_timeout = std::chrono::seconds(manifest.stop_timeout_seconds());
  }
  const auto& restart = manifest.restart();
  if (restart.policy().empty() || restart.policy() == "on-failure") {
    spec.restart = RestartMode::kOnFailure;
  } else if (restart.policy() == "always") {
    spec.restart = RestartMode::kAlways;
  } else if (restart.policy() == "never") {
    spec.restart = RestartMode::kNever;
  } else {
    return Status::InvalidArgument("restart.policy \"" + restart.policy() +
                                   "\" must be on-failure, always or never");
  }
  if (restart.max_restarts() > 0) spec.max_restarts = restart.max_restarts();
  if (restart.backoff_seconds() > 0) spec.restart_backoff = std::chrono::seconds(restart.backoff_seconds());
  spec.log_file = layout.log_file();
  return spec;
}

Result<topos::v1::StepResult> CheckPrerequisitesStep(StepContext& context, const StepRun& run) {
  auto manifest = FindManifest(context.state_dir, run.step.service());
  if (!manifest.ok()) return manifest.status();
  topos::v1::Prerequisites wanted = manifest->prerequisites();
  // Ports the service itself already holds are not in the way.
  bool running = context.services->Query(manifest->name()).phase == ServiceState::Phase::kRunning;
  if (running) wanted.clear_ports();
  auto problems = UnmetPrerequisites(wanted, ObserveHost(context.state_dir));
  topos::v1::StepResult result;
  if (!problems.empty()) {
    for (const auto& problem : problems) {
      if (run.failure_detail != nullptr) run.failure_detail->add_problems(problem);
    }
    std::string joined;
    for (const auto& problem : problems) joined += (joined.empty() ? "" : "; ") + problem;
    return Status::FailedPrecondition(std::to_string(problems.size()) +
                                      " prerequisite(s) not met: " + joined);
  }
  result.set_summary("all prerequisites of " + manifest->name() + " met");
  return result;
}

Result<topos::v1::StepResult> SetupLocalStoreStep(StepContext& context, const StepRun& run) {
  const std::uint64_t wanted = run.step.config_version();
  const std::uint64_t at_start = context.applied_config_version();
  while (context.applied_config_version() < wanted) {
    if (!run.TimeLeft()) {
      return Status::Unavailable("local store is at version " +
                                 std::to_string(context.applied_config_version()) +
                                 ", still waiting for version " + std::to_string(wanted));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  topos::v1::StepResult result;
  result.set_changed(at_start < wanted);
  result.set_summary("local store at version " + std::to_string(context.applied_config_version()));
  return result;
}

namespace {

// Keeps the current and previous versions; removes the rest.
void PruneVersions(const ServiceLayout& layout, const topos::v1::InstalledService& record) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(layout.versions(), error)) {
    std::string name = entry.path().filename().string();
    if (name == record.version() || name == record.previous_version()) continue;
    fs::remove_all(entry.path(), error);
  }
}

Result<topos::v1::InstalledService> RecordOrNew(StepContext& context, const std::string& name) {
  auto record = context.journal->GetService(name);
  if (record.ok()) return record;
  if (record.status().code() != Status::Code::kNotFound) return record.status();
  topos::v1::InstalledService fresh;
  fresh.set_name(name);
  return fresh;
}

Status CheckVersionName(const std::string& version) {
  auto ok_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '+';
  };
  if (version.empty() || version.size() > 64 || version[0] == '.' ||
      !std::all_of(version.begin(), version.end(), ok_char)) {
    return Status::InvalidArgument("version \"" + version.substr(0, 64) +
                                   "\" must be 1-64 characters of A-Z a-z 0-9 . _ - +");
  }
  return Status::Ok();
}

}  // namespace

namespace {

// Returns the heap freed by a step to the system when it goes out of scope.
// An artifact download leaves megabytes of freed gRPC buffers in glibc's
// arenas, which glibc would otherwise keep for the life of the agent (the
// idle agent stayed 4-10 MiB larger after a 100 MB install).
class TrimHeapOnExit {
 public:
  TrimHeapOnExit() = default;
  TrimHeapOnExit(const TrimHeapOnExit&) = delete;
  TrimHeapOnExit& operator=(const TrimHeapOnExit&) = delete;
  ~TrimHeapOnExit() { malloc_trim(0); }
};

}  // namespace

Result<topos::v1::StepResult> InstallServiceStep(StepContext& context, const StepRun& run) {
  auto manifest = FindManifest(context.state_dir, run.step.service());
  if (!manifest.ok()) return manifest.status();
  const std::string& sha256 = run.step.artifact().sha256();
  const std::string& version = manifest->version();
  TOPOS_RETURN_IF_ERROR(CheckVersionName(version));
  ServiceLayout layout = LayoutOf(context, manifest->name());
  auto record = RecordOrNew(context, manifest->name());
  if (!record.ok()) return record.status();

  topos::v1::StepResult result;
  result.set_version(version);
  if (record->version() == version && record->sha256() == sha256 && fs::exists(layout.version(version))) {
    result.set_summary(manifest->name() + " " + version + " already installed");
    return result;
  }
  if (record->version() == version && fs::exists(layout.version(version))) {
    return Status::FailedPrecondition(manifest->name() + " " + version +
                                      " is installed from another artifact (" +
                                      record->sha256().substr(0, 12) +
                                      "); publish the new artifact under a new version");
  }
  // Before the stub, so that it runs after the stub and the buffers are gone.
  TrimHeapOnExit trim_heap;
  auto stub = context.controller();
  if (!stub) return Status::Unavailable("no connection to the controller to fetch the artifact");
  auto artifact = context.artifacts->Fetch(*stub, sha256, run.step.artifact().size(), 5, &run.cancelled);
  // Done with the controller: its connection winds down (in gRPC's threads)
  // while we unpack, and its buffers are free by the time trim_heap runs.
  stub.reset();
  if (!artifact.ok()) return artifact.status();

  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(layout.dir));
  std::error_code error;
  fs::create_directories(layout.versions(), error);
  fs::path staging = layout.versions() / (".staging-" + run.step.step_id());
  fs::remove_all(staging, error);
  auto unpacked = UnpackArchive(*artifact, staging);
  if (!unpacked.ok()) return unpacked.status().WithContext("unpack " + sha256.substr(0, 12));
  fs::path target = layout.version(version);
  fs::remove_all(target, error);  // a leftover of an install cut off before its record was written
  fs::rename(staging, target, error);
  if (error) {
    fs::remove_all(staging, error);
    return Status::Internal("move the unpacked artifact into " + target.string() + ": " + error.message());
  }

  if (!manifest->install_hook().argv().empty()) {
    CommandSpec hook;
    for (const auto& arg : manifest->install_hook().argv()) hook.argv.push_back(arg);
    hook.shell = manifest->install_hook().shell();
    hook.working_dir = target;
    hook.env = {{"TOPOS_SERVICE_DIR", layout.dir.string()},
                {"TOPOS_VERSION_DIR", target.string()},
                {"TOPOS_HOST_FQDN", context.host_fqdn}};
    auto limit = std::chrono::milliseconds(std::chrono::seconds(
        manifest->install_hook().timeout_seconds() == 0 ? 300 : manifest->install_hook().timeout_seconds()));
    hook.timeout = std::min(limit, run.Remaining());
    auto ran = RunCommand(hook, run.output, &run.cancelled);
    if (!ran.ok() || !ran->succeeded()) {
      fs::remove_all(target, error);
      if (!ran.ok()) return ran.status().WithContext("install hook");
      if (run.failure_detail != nullptr) run.failure_detail->set_output_tail(ran->output_tail);
      return Status::FailedPrecondition("install hook " + ran->Describe() +
                                        (ran->output_tail.empty() ? "" : "\nlast output:\n" + ran->output_tail));
    }
  }

  TOPOS_RETURN_IF_ERROR(SwitchCurrent(layout, version));
  if (!record->version().empty() && record->version() != version) {
    record->set_previous_version(record->version());
    record->set_previous_sha256(record->sha256());
  }
  record->set_version(version);
  record->set_sha256(sha256);
  TOPOS_RETURN_IF_ERROR(context.journal->PutService(*record));
  PruneVersions(layout, *record);
  result.set_changed(true);
  result.set_summary("installed " + manifest->name() + " " + version + " (" +
                     std::to_string(unpacked->entries) + " files, sha256 " + sha256.substr(0, 12) + ")");
  return result;
}

Result<topos::v1::StepResult> StartServiceStep(StepContext& context, const StepRun& run) {
  auto manifest = FindManifest(context.state_dir, run.step.service());
  if (!manifest.ok()) return manifest.status();
  auto record = context.journal->GetService(manifest->name());
  if (!record.ok()) return Status::FailedPrecondition(record.status().message() + ": install it first");
  ServiceState state = context.services->Query(manifest->name());
  if (state.phase == ServiceState::Phase::kRunning &&
      record->started_fingerprint() == RunFingerprint(*manifest, *record) &&
      ProbeOnce(ProbeFor(context, *manifest, run.Remaining())).ok()) {
    topos::v1::StepResult result;
    result.set_pid(state.pid);
    result.set_version(record->version());
    result.set_summary(manifest->name() + " " + record->version() + " already running (pid " +
                       std::to_string(state.pid) + "), healthy");
    return result;
  }
  // What runs now, so a new version that fails its health check does not
  // leave the host without the service.
  const bool was_running = state.phase == ServiceState::Phase::kRunning;
  const std::string running_version = record->started_version();
  auto started = StartAndCheck(context, run, *manifest, *record);
  if (started.ok()) return started;
  ServiceLayout layout = LayoutOf(context, manifest->name());
  if (!was_running || running_version.empty() || running_version == record->version() ||
      running_version != record->previous_version() ||
      !fs::exists(layout.version(running_version))) {
    return started.status();
  }
  std::string failed_version = record->version();
  TOPOS_RETURN_IF_ERROR(SwitchCurrent(layout, running_version));
  std::string failed_sha = record->sha256();
  record->set_version(record->previous_version());
  record->set_sha256(record->previous_sha256());
  record->set_previous_version(failed_version);
  record->set_previous_sha256(failed_sha);
  TOPOS_RETURN_IF_ERROR(context.journal->PutService(*record));
  // The step's own time went to the failed health check: give the old
  // version a fresh, bounded window.
  StepRun restore{run.step, run.cancelled, std::chrono::steady_clock::now() + std::chrono::seconds(60),
                  run.output};
  auto restored = StartAndCheck(context, restore, *manifest, *record);
  return Status::FailedPrecondition(
      started.status().message() + "\n" + manifest->name() + " " + failed_version +
      " did not become healthy; rolled back to " + running_version +
      (restored.ok() ? ", which is running again" : ", which did not start either: " +
                                                     restored.status().message()));
}

Result<topos::v1::StepResult> StopServiceStep(StepContext& context, const StepRun& run) {
  const std::string& name = run.step.service();
  auto record = context.journal->GetService(name);
  bool running = context.services->Query(name).phase == ServiceState::Phase::kRunning;
  TOPOS_RETURN_IF_ERROR(context.services->Stop(name));
  if (record.ok()) {
    record->set_should_run(false);
    record->set_health("unknown");
    TOPOS_RETURN_IF_ERROR(context.journal->PutService(*record));
  }
  topos::v1::StepResult result;
  result.set_changed(running);
  result.set_summary(running ? name + " stopped" : name + " was not running");
  return result;
}

Result<topos::v1::StepResult> UninstallServiceStep(StepContext& context, const StepRun& run) {
  const std::string& name = run.step.service();
  auto record = context.journal->GetService(name);
  ServiceLayout layout = LayoutOf(context, name);
  TOPOS_RETURN_IF_ERROR(context.services->Stop(name));
  TOPOS_RETURN_IF_ERROR(context.services->Remove(name));
  topos::v1::StepResult result;
  result.set_changed(record.ok() || fs::exists(layout.dir));
  std::error_code error;
  fs::remove_all(layout.dir, error);
  if (error) return Status::Internal("remove " + layout.dir.string() + ": " + error.message());
  result.set_summary(result.changed() ? name + " uninstalled" : name + " was not installed");
  return result;
}

Result<topos::v1::StepResult> RollbackStep(StepContext& context, const StepRun& run) {
  auto manifest = FindManifest(context.state_dir, run.step.service());
  if (!manifest.ok()) return manifest.status();
  auto record = context.journal->GetService(manifest->name());
  if (!record.ok()) return record.status();
  ServiceLayout layout = LayoutOf(context, manifest->name());
  if (record->previous_version().empty() || !fs::exists(layout.version(record->previous_version()))) {
    return Status::FailedPrecondition(manifest->name() + " has no previous version to roll back to");
  }
  std::string from = record->version();
  TOPOS_RETURN_IF_ERROR(SwitchCurrent(layout, record->previous_version()));
  std::string from_sha = record->sha256();
  record->set_version(record->previous_version());
  record->set_sha256(record->previous_sha256());
  record->set_previous_version(from);
  record->set_previous_sha256(from_sha);
  TOPOS_RETURN_IF_ERROR(context.journal->PutService(*record));
  if (record->should_run()) {
    auto started = StartAndCheck(context, run, *manifest, *record);
    if (!started.ok()) return started.status().WithContext("rolled back to " + record->version());
  }
  topos::v1::StepResult result;
  result.set_changed(true);
  result.set_version(record->version());
  result.set_summary("rolled " + manifest->name() + " back from " + from + " to " + record->version());
  return result;
}

void AdoptServices(StepContext& context) {
  for (auto& record : context.journal->ListServices()) {
    if (!record.should_run()) continue;
    auto manifest = FindManifest(context.state_dir, record.name());
    if (!manifest.ok()) {
      spdlog::warn("service {} should run but has no manifest: {}", record.name(),
                   manifest.status().message());
      continue;
    }
    auto spec = BuildRunSpec(context, *manifest, record);
    if (!spec.ok()) {
      spdlog::warn("service {}: {}", record.name(), spec.status().message());
      continue;
    }
    Status adopted = context.services->Adopt(*spec);
    if (adopted.ok() && context.services->Query(record.name()).phase == ServiceState::Phase::kRunning) {
      spdlog::info("adopted running service {} (pid {})", record.name(),
                   context.services->Query(record.name()).pid);
      continue;
    }
    spdlog::warn("service {} was not running; starting it", record.name());
    Status started = context.services->Start(*spec);
    if (!started.ok()) spdlog::error("start {}: {}", record.name(), started.message());
  }
}

}  // namespace topos::agent
