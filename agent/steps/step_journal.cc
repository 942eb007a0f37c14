#include "agent/steps/step_journal.h"

#include <algorithm>
#include <system_error>

#include "common/file_io.h"

namespace topos::agent {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxRecordBytes = 4 << 20;

template <typename Message>
Result<Message> ReadMessage(const fs::path& path) {
  auto bytes = ReadFile(path, kMaxRecordBytes);
  if (!bytes.ok()) return bytes.status();
  Message message;
  if (!message.ParseFromString(*bytes)) {
    return Status::Internal(path.string() + ": not a valid record (damaged file?)");
  }
  return message;
}

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

Status CheckStepId(const std::string& step_id) {
  if (step_id.empty() || step_id.size() > 128 || step_id.front() == '.' ||
      !std::all_of(step_id.begin(), step_id.end(), IsIdChar)) {
    return Status::InvalidArgument("step id \"" + step_id.substr(0, 128) +
                                   "\" must be 1-128 characters of A-Z a-z 0-9 . _ - "
                                   "and not start with '.'");
  }
  return Status::Ok();
}

Status CheckServiceName(const std::string& name) {
  auto ok_char = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; };
  if (name.empty() || name.size() > 63 || name.front() == '-' ||
      !std::all_of(name.begin(), name.end(), ok_char)) {
    return Status::InvalidArgument("service name \"" + name.substr(0, 63) +
                                   "\" must be 1-63 characters of a-z 0-9 - "
                                   "and not start with '-'");
  }
  return Status::Ok();
}

Result<std::unique_ptr<StepJournal>> StepJournal::Open(const fs::path& state_dir) {
  fs::path journal_dir = state_dir / "store" / "journal";
  fs::path services_dir = state_dir / "services";
  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(state_dir / "store"));
  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(journal_dir));
  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(services_dir));
  std::unique_ptr<StepJournal> journal(new StepJournal(journal_dir, services_dir));
  std::error_code error;
  for (const auto& file : fs::directory_iterator(journal_dir, error)) {
    if (file.path().extension() != ".pb") continue;
    auto entry = ReadMessage<topos::v1::JournalEntry>(file.path());
    if (entry.ok() && entry->state() == topos::v1::STEP_RUNNING) {
      journal->interrupted_.push_back(*entry);
    }
  }
  if (error) return Status::Internal("read " + journal_dir.string() + ": " + error.message());
  std::sort(journal->interrupted_.begin(), journal->interrupted_.end(),
            [](const auto& a, const auto& b) { return a.started_at_unix_ms() < b.started_at_unix_ms(); });
  return journal;
}

Result<topos::v1::JournalEntry> StepJournal::Find(const std::string& step_id) {
  TOPOS_RETURN_IF_ERROR(CheckStepId(step_id));
  std::lock_guard lock(mutex_);
  fs::path path = journal_dir_ / (step_id + ".pb");
  if (!fs::exists(path)) return Status::NotFound("step " + step_id + " is not in the journal");
  return ReadMessage<topos::v1::JournalEntry>(path);
}

Status StepJournal::Write(const topos::v1::JournalEntry& entry) {
  TOPOS_RETURN_IF_ERROR(CheckStepId(entry.step().step_id()));
  std::lock_guard lock(mutex_);
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(journal_dir_ / (entry.step().step_id() + ".pb"),
                                            entry.SerializeAsString(), 0600));
  if (++writes_since_prune_ >= 50) Prune();
  return Status::Ok();
}

void StepJournal::Prune() {
  writes_since_prune_ = 0;
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  std::error_code error;
  for (const auto& file : fs::directory_iterator(journal_dir_, error)) {
    if (file.path().extension() == ".pb") files.emplace_back(file.last_write_time(error), file.path());
  }
  if (files.size() <= kKeep) return;
  std::sort(files.begin(), files.end());
  for (std::size_t i = 0; i + kKeep < files.size(); ++i) fs::remove(files[i].second, error);
}

std::vector<topos::v1::JournalEntry> StepJournal::Recent(std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<topos::v1::JournalEntry> entries;
  std::error_code error;
  for (const auto& file : fs::directory_iterator(journal_dir_, error)) {
    if (file.path().extension() != ".pb") continue;
    auto entry = ReadMessage<topos::v1::JournalEntry>(file.path());
    if (entry.ok()) entries.push_back(std::move(*entry));
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.started_at_unix_ms() > b.started_at_unix_ms();
  });
  if (entries.size() > limit) entries.resize(limit);
  return entries;
}

Result<topos::v1::InstalledService> StepJournal::GetService(const std::string& name) {
  TOPOS_RETURN_IF_ERROR(CheckServiceName(name));
  std::lock_guard lock(mutex_);
  fs::path path = services_dir_ / name / "record.pb";
  if (!fs::exists(path)) return Status::NotFound("service " + name + " is not installed");
  return ReadMessage<topos::v1::InstalledService>(path);
}

Status StepJournal::PutService(const topos::v1::InstalledService& record) {
  TOPOS_RETURN_IF_ERROR(CheckServiceName(record.name()));
  std::lock_guard lock(mutex_);
  TOPOS_RETURN_IF_ERROR(EnsurePrivateDirectory(services_dir_ / record.name()));
  return WriteFileAtomically(services_dir_ / record.name() / "record.pb",
                             record.SerializeAsString(), 0600);
}

Status StepJournal::DeleteService(const std::string& name) {
  TOPOS_RETURN_IF_ERROR(CheckServiceName(name));
  std::lock_guard lock(mutex_);
  std::error_code error;
  fs::remove(services_dir_ / name / "record.pb", error);
  if (error) return Status::Internal("remove the record of " + name + ": " + error.message());
  return Status::Ok();
}

std::vector<topos::v1::InstalledService> StepJournal::ListServices() {
  std::lock_guard lock(mutex_);
  std::vector<topos::v1::InstalledService> services;
  std::error_code error;
  for (const auto& dir : fs::directory_iterator(services_dir_, error)) {
    auto record = ReadMessage<topos::v1::InstalledService>(dir.path() / "record.pb");
    if (record.ok()) services.push_back(std::move(*record));
  }
  std::sort(services.begin(), services.end(),
            [](const auto& a, const auto& b) { return a.name() < b.name(); });
  return services;
}

Status CheckRunStep(const topos::v1::RunStep& step) {
  TOPOS_RETURN_IF_ERROR(CheckStepId(step.step_id()));
  switch (step.kind()) {
    case topos::v1::SETUP_LOCAL_STORE:
      return Status::Ok();
    case topos::v1::CHECK_PREREQUISITES:
    case topos::v1::INSTALL_SERVICE:
    case topos::v1::REQUEST_CERTIFICATE:
    case topos::v1::ASSIGN_CERTIFICATE:
    case topos::v1::START_SERVICE:
    case topos::v1::STOP_SERVICE:
    case topos::v1::UNINSTALL_SERVICE:
    case topos::v1::ROLLBACK:
      return CheckServiceName(step.service());
    default:
      return Status::InvalidArgument("unknown step kind " + std::to_string(step.kind()));
  }
}

}  // namespace topos::agent
