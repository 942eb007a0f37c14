// Waits for a started service to become healthy: a TCP connect to
// localhost:port, an HTTP(S) GET returning 2xx, or a command exiting 0,
// retried until a deadline.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

#include "agent/process/command_runner.h"
#include "common/status.h"

namespace topos::agent {

struct HealthProbe {
  enum class Kind { kNone, kTcp, kHttp, kCommand };
  Kind kind = Kind::kNone;
  int tcp_port = 0;
  std::string http_url;             // http:// or https://
  std::filesystem::path https_ca_file;  // trust for https (the controller's CA); hostname not checked
  CommandSpec command;              // kCommand; its timeout bounds one attempt
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  // overall
  std::chrono::milliseconds interval{std::chrono::milliseconds(200)};  // between attempts
};

// OK once a probe attempt succeeds; FailedPrecondition naming the probe and the
// last attempt's error when the timeout passes ("health check tcp:5041 did not
// pass within 30s: connection refused"). kNone: OK at once. Stops early with
// the same error when `still_running` returns false (the service died).
Status WaitHealthy(const HealthProbe& probe, const std::function<bool()>& still_running = {},
                   const std::atomic<bool>* cancel = nullptr);

// One attempt, no retry.
Status ProbeOnce(const HealthProbe& probe);

}  // namespace topos::agent
