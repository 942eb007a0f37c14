// Renews the certificates of the services installed on this host before
// they expire, without waiting for the controller to ask.
//
// Every interval (a minute by default) it looks at each installed service
// with a certificate binding. Once the assigned certificate passes
// not_before + lifetime x (2/3 - u), with u drawn once per service uniformly
// from [0, 0.1) so a fleet does not renew in step, it runs request_certificate
// (with reissue) and then assign_certificate through the StepExecutor as
// ordinary journaled steps, ids "renew-<service>-<old serial>-request-<n>" and
// "renew-<service>-<old serial>-assign-<n>". Their updates reach the
// controller through the executor's sink like any step's. The assign step
// reloads or restarts the service and health-checks it.
//
// - A Pending answer (names not granted, an operator must approve) is logged
//   and asked about again at the next check.
// - A failed step backs off: 2, 4, 8 ... intervals, capped at max_backoff.
// - A service with a step queued or running (the controller deploying it)
//   is left alone until that step is done.
// - A crash mid-way does not renew twice: the interrupted step runs again
//   when the agent starts, and a certificate issued for a reissue waits in
//   .tls-pending/ to be assigned instead of being signed again.
//
// Thread-safety: Start/Stop from the owning thread; CheckNow from one thread
// at a time (the renewer's own, or a test's when not started); renewals()
// from any thread. One background thread runs the checks.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "agent/steps/step_context.h"
#include "agent/steps/step_executor.h"

namespace topos::agent {

struct RenewerOptions {
  std::chrono::milliseconds interval{std::chrono::minutes(1)};
  std::chrono::milliseconds max_backoff{std::chrono::hours(1)};
  // The deadline of each renewal step; the renewer waits at most this long
  // (plus a margin) for one.
  std::chrono::seconds step_deadline{300};
  // Upper bound (exclusive) of the per-service jitter u.
  double max_jitter = 0.1;
};

// The moment a certificate valid from `not_before` to `not_after` is due for
// renewal: not_before + (not_after - not_before) x (2/3 - jitter), jitter
// clamped to [0, 2/3]. A certificate with no lifetime is due at not_before.
// Pure.
std::chrono::system_clock::time_point RenewalDueAt(std::chrono::system_clock::time_point not_before,
                                                   std::chrono::system_clock::time_point not_after,
                                                   double jitter);

class CertificateRenewer {
 public:
  // `context` is the executor's (shared journal, services, state dir);
  // `executor` runs the steps and must outlive the renewer.
  CertificateRenewer(StepContext context, StepExecutor& executor, RenewerOptions options = {});
  ~CertificateRenewer();  // Stop()

  CertificateRenewer(const CertificateRenewer&) = delete;
  CertificateRenewer& operator=(const CertificateRenewer&) = delete;

  // Starts the background thread; its first check runs at once.
  void Start();
  // Ends the thread, abandoning the wait for a running renewal step (the
  // step itself is the executor's to finish or cut off); idempotent.
  void Stop();

  // One pass over the installed services; blocks while renewal steps run.
  void CheckNow();

  // Certificates renewed (assigned) since construction.
  int renewals() const { return renewals_.load(); }

 private:
  struct ServiceRenewal {
    double jitter = -1;            // drawn once, on first sight
    std::string serial;            // the assigned certificate the fields below are about
    int failures = 0;              // consecutive failed attempts at renewing `serial`
    std::chrono::steady_clock::time_point next_try{};
  };

  void Loop();
  // Renews `service` from certificate `serial`; updates `state`.
  void Renew(const std::string& service, const std::string& serial, ServiceRenewal& state);
  // Runs one step through the executor and waits for its final state.
  // Nullopt when stopping or when the step outlived its deadline.
  std::optional<topos::v1::JournalEntry> RunAndWait(const topos::v1::RunStep& step);
  // `prefix`-1, -2, ...: the first id the journal has not seen.
  std::string FreshId(const std::string& prefix);
  void BackOff(const std::string& service, ServiceRenewal& state, const std::string& why);
  bool stopping();

  // Constant after construction.
  StepContext context_;
  StepExecutor& executor_;
  const RenewerOptions options_;

  // Owned by whichever thread runs CheckNow.
  std::map<std::string, ServiceRenewal> services_;
  std::mt19937_64 random_{std::random_device{}()};

  std::atomic<int> renewals_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace topos::agent
