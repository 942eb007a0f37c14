#include "controller/cli/rollout_view.h"

#include <ctime>
#include <sstream>

#include "common/text.h"

namespace topos::cli {
namespace {

std::string Clock(std::int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[16];
  std::strftime(text, sizeof(text), "%H:%M:%S", &tm);
  return text;
}

std::string UtcTime(std::int64_t unix_ms) { return FormatUnixUtc(unix_ms / 1000); }

std::string Bar(const PoolCounts& counts, int width) {
  const int total = counts.total();
  const int finished = counts.succeeded + counts.failed + counts.skipped;
  const int filled = total == 0 ? width : finished * width / total;
  return "[" + std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(width - filled), '-') + "]";
}

std::string Percent(int failed, int attempted) {
  if (attempted == 0) return "0%";
  const int tenths = failed * 1000 / attempted;
  std::string text = std::to_string(tenths / 10);
  if (tenths % 10 != 0) text += "." + std::to_string(tenths % 10);
  return text + "%";
}

std::string Budget(const std::string& label, int failed, int attempted, int threshold) {
  return label + ": " + std::to_string(failed) + " of " + std::to_string(attempted) +
         " attempted main hosts failed (" + Percent(failed, attempted) + "); the rollout stops above " +
         std::to_string(threshold) + "% with at least 2 failed" +
         (threshold == 0 ? " (0%: at the first failure)" : "") + "\n";
}

}  // namespace

PoolCounts CountPool(const v1::RolloutPool& pool) {
  PoolCounts counts;
  for (const auto& host : pool.hosts()) {
    const std::string& phase = host.phase();
    if (phase == "succeeded") {
      ++counts.succeeded;
    } else if (phase == "running") {
      ++counts.running;
    } else if (phase == "failed") {
      ++counts.failed;
    } else if (phase == "skipped") {
      ++counts.skipped;
    } else {
      ++counts.waiting;
    }
  }
  return counts;
}

std::vector<std::string> ProgressLines(const v1::Rollout& rollout, int width) {
  std::size_t name_width = 0;
  for (const auto& pool : rollout.pools()) name_width = std::max(name_width, pool.name().size());
  std::vector<std::string> lines;
  int done = 0, total = 0;
  for (const auto& pool : rollout.pools()) {
    PoolCounts counts = CountPool(pool);
    done += counts.succeeded + counts.failed + counts.skipped;
    total += counts.total();
    std::ostringstream line;
    line << "stage " << pool.stage() + 1 << "  " << pool.name()
         << std::string(name_width - pool.name().size(), ' ') << "  " << Bar(counts, width) << "  "
         << counts.succeeded << "/" << counts.total() << " done  " << counts.running
         << " running  " << counts.failed << " failed  " << counts.waiting << " waiting";
    if (counts.skipped > 0) line << "  " << counts.skipped << " skipped";
    lines.push_back(line.str());
  }
  std::string summary = "rollout " + rollout.id() + " " + rollout.state() + ": " +
                        std::to_string(done) + " of " + std::to_string(total) + " hosts finished";
  if (!rollout.stop_reason().empty()) summary += " (" + rollout.stop_reason() + ")";
  if (const std::string schedule = ScheduleText(rollout); !schedule.empty()) {
    summary += " (" + schedule + ")";
  }
  lines.push_back(summary);
  return lines;
}

std::string EventLine(const v1::RolloutEvent& event) {
  std::string line = Clock(event.at_unix_ms()) + "  ";
  if (!event.host_fqdn().empty()) line += event.host_fqdn() + "  ";
  line += event.kind();
  if (!event.message().empty()) line += "  " + event.message();
  return line;
}

bool ShownByDefault(const v1::RolloutEvent& event) {
  const std::string& kind = event.kind();
  if (kind.rfind("step-", 0) != 0) return true;
  return kind == "step-failed" || kind == "step-pending" || kind == "step-cancelled";
}

std::string StatusText(const v1::Rollout& rollout) {
  std::ostringstream out;
  const auto& strategy = rollout.strategy();
  std::string kind = KindName(rollout);
  if (rollout.kind() == v1::ROLLOUT_ROLLBACK) kind += " of " + rollout.rollback_of();
  if (rollout.kind() == v1::ROLLOUT_CERTIFICATES && rollout.reissue()) kind += ", reissue";
  out << "rollout " << rollout.id() << " (" << kind << ", topology version "
      << rollout.topology_version() << ")\n"
      << "state: " << rollout.state() << (rollout.done() ? "" : " (hosts may still be running)")
      << "\n";
  if (const std::string schedule = ScheduleText(rollout); !schedule.empty()) {
    out << schedule << ": no host starts before then\n";
  } else if (rollout.effective_at_unix_ms() != 0) {
    out << "effective at " << UtcTime(rollout.effective_at_unix_ms()) << "\n";
  }
  if (!rollout.stop_reason().empty()) out << "reason: " << rollout.stop_reason() << "\n";
  out << "started by " << rollout.created_by() << "\n"
      << "strategy: --max-unavailable " << strategy.max_unavailable() << " --failure-threshold "
      << strategy.failure_threshold_percent() << "% --canary " << strategy.canary()
      << " --canary-failures-allowed " << strategy.canary_failures_allowed()
      << (strategy.pause_after_canary() ? " --pause-after-canary" : "") << " --offline-timeout "
      << strategy.offline_timeout_seconds() << "s" << (strategy.skip_offline() ? " --skip-offline" : "")
      << " --step-timeout " << strategy.step_timeout_seconds() << "s\n\n";
  for (const auto& line : ProgressLines(rollout)) out << line << "\n";
  out << "\n";
  int all_failed = 0, all_attempted = 0;
  for (const auto& pool : rollout.pools()) {
    int failed = 0, attempted = 0;
    for (const auto& host : pool.hosts()) {
      if (host.canary()) continue;
      if (host.phase() == "failed") ++failed;
      if (host.phase() == "failed" || host.phase() == "succeeded") ++attempted;
    }
    all_failed += failed;
    all_attempted += attempted;
    out << Budget("pool " + pool.name(), failed, attempted,
                  static_cast<int>(strategy.failure_threshold_percent()));
  }
  out << Budget("whole rollout", all_failed, all_attempted,
                static_cast<int>(strategy.failure_threshold_percent()))
      << "\n";
  for (const auto& pool : rollout.pools()) {
    out << "pool " << pool.name() << ":\n";
    for (const auto& host : pool.hosts()) {
      out << "  " << host.host_fqdn() << "  " << host.phase() << (host.canary() ? " (canary)" : "");
      if (host.offline_since_unix_ms() != 0) out << " (offline)";
      if (!host.current_step().empty() && host.phase() == "running") out << "  " << host.current_step();
      if (!host.reason().empty()) out << "  " << host.reason();
      out << "\n";
    }
  }
  return out.str();
}

std::string KindName(const v1::Rollout& rollout) {
  switch (rollout.kind()) {
    case v1::ROLLOUT_ROLLBACK:
      return "rollback";
    case v1::ROLLOUT_CERTIFICATES:
      return "certificates";
    default:
      return "deploy";
  }
}

std::string ScheduleText(const v1::Rollout& rollout) {
  if (rollout.state() != "scheduled" || rollout.effective_at_unix_ms() == 0) return "";
  return "scheduled for " + UtcTime(rollout.effective_at_unix_ms());
}

int ExitCodeFor(const v1::Rollout& rollout) {
  if (!rollout.done()) return kRolloutUnknown;
  if (rollout.state() == "succeeded") return kRolloutSucceeded;
  if (rollout.state() == "aborted") return kRolloutAborted;
  return kRolloutFailed;
}

}  // namespace topos::cli
