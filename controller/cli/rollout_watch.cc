#include "controller/cli/rollout_watch.h"

#include <unistd.h>

#include <iostream>
#include <optional>
#include <thread>
#include <vector>

#include "controller/cli/commands.h"
#include "controller/cli/rollout_view.h"

namespace topos::cli {
namespace {

// Draws the progress view under the event lines, in place on a terminal.
class ProgressView {
 public:
  explicit ProgressView(bool terminal) : terminal_(terminal) {}

  void Event(const std::string& line) {
    Erase();
    std::cout << line << std::endl;  // flushed: a pipe or log file sees it now, not at exit
  }
  // Without a terminal only the final view is printed, so only the last
  // snapshot is needed.
  bool final_only() const { return !terminal_; }
  void Show(const v1::Rollout& rollout) {
    last_ = rollout;
    if (!terminal_) return;
    Erase();
    auto lines = ProgressLines(rollout);
    for (const auto& line : lines) std::cout << line << "\n";
    drawn_ = static_cast<int>(lines.size());
    std::cout.flush();
  }
  // The final view; printed once when not on a terminal.
  void Close() {
    if (!last_) return;
    if (terminal_) {
      Show(*last_);
    } else {
      for (const auto& line : ProgressLines(*last_)) std::cout << line << "\n";
    }
    std::cout.flush();
  }

 private:
  void Erase() {
    // Cursor to the start of the view's first line, then clear to the end.
    if (terminal_ && drawn_ > 0) std::cout << "\033[" << drawn_ << "F\033[J";
    drawn_ = 0;
  }

  const bool terminal_;
  int drawn_ = 0;
  std::optional<v1::Rollout> last_;
};

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::INTERNAL;
}

}  // namespace

int WatchRollout(const ConnectionOptions& connection, const std::string& id,
                 const WatchOptions& options) {
  ProgressView view(isatty(STDOUT_FILENO) == 1);
  std::uint64_t seq = options.after_seq;
  auto reachable_at = std::chrono::steady_clock::now();
  bool said_retrying = false;
  for (;;) {
    auto client = AdminClient::Connect(connection);
    if (!client.ok()) return Fail(client.status());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::hours(25));
    v1::WatchRolloutRequest request;
    request.set_id(id);
    request.set_after_seq(seq);
    request.set_final_snapshot_only(view.final_only());
    auto reader = client->stub().WatchRollout(&context, request);
    v1::RolloutUpdate update;
    std::optional<v1::Rollout> last;
    while (reader->Read(&update)) {
      reachable_at = std::chrono::steady_clock::now();
      if (said_retrying) {
        view.Event("controller reachable again; following rollout " + id);
        said_retrying = false;
      }
      for (const auto& event : update.events()) {
        if (options.all_steps || ShownByDefault(event)) view.Event(EventLine(event));
        seq = event.seq();
      }
      // Snapshots are spaced; the stream's last update always has one.
      if (!update.has_rollout()) continue;
      last = update.rollout();
      view.Show(*last);
    }
    grpc::Status status = reader->Finish();
    if (status.ok()) {
      view.Close();
      if (!last) {
        // Already done and nothing new after `seq`: show where it ended.
        v1::GetRolloutRequest get;
        get.set_id(id);
        v1::GetRolloutResponse got;
        if (!CallAdmin(connection, &v1::AdminService::Stub::GetRollout, get, &got)) return 1;
        last = got.rollout();
        for (const auto& line : ProgressLines(*last)) std::cout << line << "\n";
      }
      return ExitCodeFor(*last);
    }
    if (!Retryable(status.error_code())) return Fail(client->Explain(status));
    if (std::chrono::steady_clock::now() - reachable_at > options.reconnect_for) {
      Fail(client->Explain(status));
      std::cerr << "toposctl: gave up following rollout " << id
                << "; it goes on without you: toposctl rollout watch " << id << "\n";
      return kRolloutUnknown;
    }
    if (!said_retrying) {
      view.Event("controller unreachable (" + status.error_message() + "); reconnecting...");
      said_retrying = true;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int ReportStartedRollout(const ConnectionOptions& connection,
                         const v1::StartRolloutResponse& response, const StartedReport& report) {
  const v1::Rollout& rollout = response.rollout();
  if (report.output == "json") {
    std::cout << ToJson(response) << "\n";
  } else {
    int hosts = 0;
    for (const auto& pool : rollout.pools()) hosts += pool.hosts_size();
    std::cout << report.what << " " << rollout.id() << " "
              << (rollout.state() == "scheduled" ? ScheduleText(rollout) : "started") << ": "
              << hosts << " host" << (hosts == 1 ? "" : "s") << " in " << rollout.pools_size()
              << " pool" << (rollout.pools_size() == 1 ? "" : "s") << report.detail << "\n";
    for (const auto& note : response.converged()) std::cout << "  left out: " << note << "\n";
  }
  if (!report.wait) {
    if (report.output != "json") {
      std::cout << "follow it with: toposctl rollout watch " << rollout.id() << "\n";
    }
    return 0;
  }
  WatchOptions watch;
  watch.all_steps = report.all_steps;
  return WatchRollout(connection, rollout.id(), watch);
}

}  // namespace topos::cli
