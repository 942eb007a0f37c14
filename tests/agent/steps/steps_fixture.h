// Shared fixture for the deployment-step tests: a temporary STATE_DIR with a
// StepJournal, a real SupervisorServiceManager, an ArtifactCache seeded by
// copying tarballs to <cache>/<sha256> (so no controller is needed), and the
// host's slice (store/current.json) written by the test.
//
// Not thread-safe except `applied_` (read by setup_local_store on the
// executor's thread) and UpdateLog (filled by the executor's sink).
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/artifacts/artifact_cache.h"
#include "agent/service/proc_probe.h"
#include "agent/service/supervisor_service_manager.h"
#include "agent/steps/step_context.h"
#include "agent/steps/step_executor.h"
#include "agent/steps/step_journal.h"
#include "certs/crypto.h"

namespace topos::agent::steps_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using topos::v1::RunStep;
using topos::v1::StepResult;
using topos::v1::StepUpdate;

// One tarball entry: a regular file, or a symlink when `symlink` is set.
struct TarEntry {
  std::string name;
  std::string data;
  int perm = 0644;
  std::string symlink;
};

inline TarEntry Script(std::string name, const std::string& body) {
  return {std::move(name), "#!/bin/sh\n" + body + "\n", 0755, ""};
}

// A service that marks itself ready (for `test -f ready`) and then idles.
inline TarEntry IdleService(const std::string& banner = "svc up") {
  return Script("bin/svc", "echo '" + banner + "'\ntouch ready\nexec sleep 1000");
}

// Writes a gzip-compressed pax tar (as the controller's artifacts are).
inline void WriteTarGz(const fs::path& out, const std::vector<TarEntry>& entries) {
  archive* a = archive_write_new();
  ASSERT_EQ(archive_write_add_filter_gzip(a), ARCHIVE_OK);
  ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK) << archive_error_string(a);
  for (const TarEntry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    archive_entry_set_mtime(entry, 1700000000, 0);
    if (!e.symlink.empty()) {
      archive_entry_set_filetype(entry, AE_IFLNK);
      archive_entry_set_perm(entry, 0777);
      archive_entry_set_symlink(entry, e.symlink.c_str());
    } else {
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_perm(entry, e.perm);
      archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()));
    }
    ASSERT_GE(archive_write_header(a, entry), ARCHIVE_WARN) << archive_error_string(a);
    if (!e.data.empty()) {
      ASSERT_EQ(archive_write_data(a, e.data.data(), e.data.size()),
                static_cast<la_ssize_t>(e.data.size()));
    }
    archive_entry_free(entry);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

inline std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void Spit(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Polls `done` every 10 ms until it holds or `limit` passes.
inline bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// True while `pid` exists and is not a zombie.
inline bool Alive(pid_t pid) {
  auto stat = ReadProcStat(pid);
  return stat && stat->state != 'Z' && stat->state != 'X';
}

// The entries of a directory, by name.
inline std::set<std::string> Names(const fs::path& dir) {
  std::set<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

// Collects what an executor's sink receives.
class UpdateLog {
 public:
  StepExecutor::UpdateSink Sink() {
    return [this](const StepUpdate& update) {
      std::lock_guard lock(mutex_);
      updates_.push_back(update);
    };
  }
  // The final (non-RUNNING) updates of `step_id`, in arrival order.
  std::vector<StepUpdate> Finals(const std::string& step_id) {
    std::lock_guard lock(mutex_);
    std::vector<StepUpdate> finals;
    for (const auto& update : updates_) {
      if (update.step_id() == step_id && update.state() != topos::v1::STEP_RUNNING) {
        finals.push_back(update);
      }
    }
    return finals;
  }
  // All output chunks of `step_id`, joined.
  std::string Output(const std::string& step_id) {
    std::lock_guard lock(mutex_);
    std::string output;
    for (const auto& update : updates_) {
      if (update.step_id() == step_id) output += update.output();
    }
    return output;
  }

 private:
  std::mutex mutex_;
  std::vector<StepUpdate> updates_;
};

using StepFn = Result<StepResult> (*)(StepContext&, const StepRun&);

class StepsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "topos-steps-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    root_ = fs::canonical(templ);
    state_dir_ = root_ / "state";
    auto journal = StepJournal::Open(state_dir_);
    ASSERT_TRUE(journal.ok()) << journal.status().message();
    journal_ = std::move(*journal);
    services_ = std::make_shared<SupervisorServiceManager>(state_dir_ / "supervisor");
    artifacts_ = std::make_shared<ArtifactCache>(state_dir_ / "artifacts");
    context_.state_dir = state_dir_;
    context_.host_fqdn = "host1.example.test";
    context_.journal = journal_;
    context_.services = services_;
    context_.artifacts = artifacts_;
    // Nothing listens there: a step that really needs the controller fails.
    context_.controller = [] () -> std::unique_ptr<topos::v1::AgentService::StubInterface> {
      return topos::v1::AgentService::NewStub(
          grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()));
    };
    context_.applied_config_version = [this] { return applied_.load(); };
    context_.poll_interval = 50ms;
  }

  void TearDown() override {
    for (const auto& name : published_) (void)services_->Stop(name);
    std::error_code error;
    fs::remove_all(root_, error);
  }

  // Builds a tarball, seeds the cache with it, and returns its reference.
  topos::v1::ArtifactRef Artifact(const std::vector<TarEntry>& entries) {
    fs::path tarball = root_ / ("artifact-" + std::to_string(++tarballs_) + ".tar.gz");
    WriteTarGz(tarball, entries);
    std::string bytes = Slurp(tarball);
    topos::v1::ArtifactRef ref;
    ref.set_sha256(certs::Sha256Hex(bytes));
    ref.set_size(bytes.size());
    fs::copy_file(tarball, artifacts_->PathFor(ref.sha256()), fs::copy_options::overwrite_existing);
    return ref;
  }

  // A manifest running bin/svc from the current version, no health check.
  static topos::v1::Service Manifest(const std::string& name, const std::string& version) {
    topos::v1::Service service;
    service.set_name(name);
    service.set_role("web");
    service.set_version(version);
    service.mutable_start()->add_argv("bin/svc");
    service.set_stop_timeout_seconds(2);
    return service;
  }

  // Writes the host's slice (what the link would have applied).
  void Publish(const std::vector<topos::v1::Service>& services, std::uint64_t version = 1) {
    topos::v1::HostConfig config;
    config.set_version(version);
    config.set_host_fqdn(context_.host_fqdn);
    for (const auto& service : services) {
      *config.add_services() = service;
      published_.insert(service.name());
    }
    std::string json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(config, &json).ok());
    Spit(state_dir_ / "store" / "current.json", json);
  }

  static RunStep Step(const std::string& id, topos::v1::StepKind kind, const std::string& service,
                      const topos::v1::ArtifactRef& artifact = {}) {
    RunStep step;
    step.set_step_id(id);
    step.set_kind(kind);
    step.set_service(service);
    *step.mutable_artifact() = artifact;
    return step;
  }

  // Runs a step function directly, as the executor would.
  Result<StepResult> Run(StepFn fn, const RunStep& step, std::chrono::milliseconds deadline = 20s) {
    std::atomic<bool> cancelled{false};
    StepRun run{step, cancelled, std::chrono::steady_clock::now() + deadline,
                [this](std::string_view chunk) { output_ += chunk; }};
    return fn(context_, run);
  }

  // Publishes `manifest` and installs it from a tarball of `entries`.
  Result<StepResult> Install(const topos::v1::Service& manifest, const std::vector<TarEntry>& entries,
                             topos::v1::ArtifactRef* ref_out = nullptr) {
    Publish({manifest});
    auto ref = Artifact(entries);
    if (ref_out != nullptr) *ref_out = ref;
    return Run(InstallServiceStep, Step("install-" + manifest.version() + "-" + std::to_string(tarballs_),
                                        topos::v1::INSTALL_SERVICE, manifest.name(), ref));
  }

  fs::path ServiceDir(const std::string& name) const { return state_dir_ / "services" / name; }
  // What `current` of `name` points at ("versions/1.0"), "" if no link.
  std::string CurrentTarget(const std::string& name) const {
    std::error_code error;
    auto target = fs::read_symlink(ServiceDir(name) / "current", error);
    return error ? "" : target.string();
  }

  fs::path root_;
  fs::path state_dir_;
  std::shared_ptr<StepJournal> journal_;
  std::shared_ptr<SupervisorServiceManager> services_;
  std::shared_ptr<ArtifactCache> artifacts_;
  std::atomic<std::uint64_t> applied_{0};
  StepContext context_;
  std::string output_;  // what directly run steps streamed
  std::set<std::string> published_;
  int tarballs_ = 0;
};

}  // namespace topos::agent::steps_test
