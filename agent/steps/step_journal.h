// The agent's step journal and installed-service records, on disk under the
// local store directory:
//
//   STATE_DIR/store/journal/<step_id>.pb     one topos.v1.JournalEntry per step
//   STATE_DIR/services/<name>/record.pb      one topos.v1.InstalledService
//
// Every write replaces a whole file atomically (temp + rename + fsync), so a
// crash leaves the old entry or the new one. An entry still RUNNING when the
// journal is opened was cut off by a crash: the executor runs it again
// (steps are idempotent) and reports the outcome.
//
// Thread-safety: all methods may be called from any thread (one mutex).
#pragma once

#include <cstddef>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "topos/v1/agent_journal.pb.h"

namespace topos::agent {

// Step ids name files: [A-Za-z0-9._-]{1,128}, not starting with '.'.
Status CheckStepId(const std::string& step_id);
// Service names name directories and units: [a-z0-9][a-z0-9-]{0,62}.
Status CheckServiceName(const std::string& name);
// A RunStep from the controller: a valid id, a known kind, and a valid
// service name for the kinds that are about a service.
Status CheckRunStep(const topos::v1::RunStep& step);

class StepJournal {
 public:
  // Creates the directories (0700) if missing.
  static Result<std::unique_ptr<StepJournal>> Open(const std::filesystem::path& state_dir);

  // NotFound if the step was never journaled.
  Result<topos::v1::JournalEntry> Find(const std::string& step_id);
  Status Write(const topos::v1::JournalEntry& entry);
  // Entries that were RUNNING when the journal was opened (cut off by a crash).
  std::vector<topos::v1::JournalEntry> Interrupted() const { return interrupted_; }
  // The newest `limit` entries, newest first. Keeps at most kKeep files on disk.
  std::vector<topos::v1::JournalEntry> Recent(std::size_t limit);

  // Installed-service records. NotFound if the service was never installed.
  Result<topos::v1::InstalledService> GetService(const std::string& name);
  Status PutService(const topos::v1::InstalledService& record);
  Status DeleteService(const std::string& name);
  std::vector<topos::v1::InstalledService> ListServices();

  std::filesystem::path services_dir() const { return services_dir_; }
  std::filesystem::path service_dir(const std::string& name) const { return services_dir_ / name; }

  static constexpr std::size_t kKeep = 500;

 private:
  StepJournal(std::filesystem::path journal_dir, std::filesystem::path services_dir)
      : journal_dir_(std::move(journal_dir)), services_dir_(std::move(services_dir)) {}
  void Prune();  // mutex_ held

  const std::filesystem::path journal_dir_;
  const std::filesystem::path services_dir_;
  std::mutex mutex_;
  std::vector<topos::v1::JournalEntry> interrupted_;  // constant after Open
  std::size_t writes_since_prune_ = 0;                // guarded by mutex_
};

}  // namespace topos::agent
