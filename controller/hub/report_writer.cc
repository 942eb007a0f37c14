#include "controller/hub/report_writer.h"

#include <spdlog/spdlog.h>

#include <vector>

namespace topos::controller {

ReportWriter::ReportWriter(Store& store, std::chrono::milliseconds flush_interval)
    : store_(store), flush_interval_(flush_interval), thread_([this] { Run(); }) {}

ReportWriter::~ReportWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  Flush();
}

void ReportWriter::Queue(HostReport report) {
  std::lock_guard lock(mutex_);
  if (report.facts || report.applied_config_version || report.refused_duplicates) {
    // Hellos and applied versions are rare; operators look for them at once.
    urgent_ = true;
    wake_.notify_one();
  }
  auto [it, inserted] = pending_.try_emplace(report.fqdn, report);
  if (inserted) return;
  HostReport& merged = it->second;
  merged.refused_duplicates += report.refused_duplicates;
  if (report.refused_duplicates) return;  // a refused clone is not a contact
  merged.seen_at = report.seen_at;
  if (report.agent_version) merged.agent_version = std::move(report.agent_version);
  if (report.facts) merged.facts = std::move(report.facts);
  if (report.applied_config_version) merged.applied_config_version = report.applied_config_version;
  if (report.services) merged.services = std::move(report.services);
}

void ReportWriter::Flush() {
  std::lock_guard flush_lock(flush_mutex_);
  std::vector<HostReport> batch;
  {
    std::lock_guard lock(mutex_);
    batch.reserve(pending_.size());
    for (auto& [fqdn, report] : pending_) batch.push_back(std::move(report));
    pending_.clear();
  }
  if (batch.empty()) return;
  Status status = store_.UpdateHostReports(batch);
  if (!status.ok()) {
    spdlog::error("could not save {} host reports: {}", batch.size(), status.message());
  }
  for (const auto& report : batch) {
    for (int i = 0; i < report.refused_duplicates; ++i) {
      Status counted = store_.CountRefusedDuplicate(report.fqdn);
      if (!counted.ok()) spdlog::error("host={} refused-duplicate count: {}", report.fqdn, counted.message());
    }
  }
}

void ReportWriter::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, flush_interval_, [this] { return stopping_ || urgent_; });
    urgent_ = false;
    lock.unlock();
    Flush();
    lock.lock();
  }
}

}  // namespace topos::controller
