// A StepRunner for simulated agents (topos-swarm): every step "runs" at once
// and does nothing on the host, so fleet rollouts can be measured at
// thousands of agents in one process. What the controller sees matches a
// real agent closely enough for a rollout to converge:
//
// - each new step id is answered on the caller's thread with one final
//   STEP_SUCCEEDED update whose summary starts with "no-op";
// - the runner keeps a simulated service table that the steps change as the
//   real ones would (install sets the version from the host's local store
//   slice, start marks it running and healthy, assign certificate sets the
//   names the planner wants, stop, uninstall, rollback), reported by
//   ServiceReports and on every final update;
// - with a controller stub factory, request_certificate is real: it makes
//   an ECDSA P-256 key and a CSR for the service's names
//   (common/service_certificate_names.h) and calls
//   AgentService.RequestCertificate, so the controller signs; a pending or
//   denied request, or a failed call, fails the step. It asks only when
//   RunStep.reissue is set, no certificate is assigned, the names changed or
//   the assigned one is past two thirds of its lifetime. The key is dropped
//   at once (nothing is served with it); assign_certificate then records the
//   issued serial (CertificateSerial). The stub is kept between steps and
//   dropped once unused for kStubIdle (checked on every call), so an idle
//   swarm holds one connection per agent;
// - a step id seen before is not run again: its remembered outcome is sent
//   again (the newest kMaxRemembered outcomes are remembered);
// - an invalid RunStep (bad id, unknown kind, bad service name) gets FAILED,
//   as from the StepExecutor; it counts as executed;
// - outcomes produced while no sink is set are kept (at most 200, the
//   oldest dropped) and sent when a sink is set;
// - Cancel has nothing to cancel: steps finish inside Submit.
//
// Thread-safety: every method may be called from any thread. The sink is
// called without the runner's lock held.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/steps/step_runner.h"
#include "topos/v1/agent.grpc.pb.h"

namespace topos::bench {

class NoOpStepRunner : public agent::StepRunner {
 public:
  static constexpr std::size_t kMaxRemembered = 4096;
  static constexpr std::chrono::seconds kStubIdle{5};

  // Makes a stub for unary calls to the controller over the agent's mutual
  // TLS (as StepContext::controller); may return null.
  using ControllerStub = std::function<std::unique_ptr<topos::v1::AgentService::StubInterface>()>;

  // `state_dir`: the simulated agent's state directory, whose local store
  // slice (store/current.json) gives installed versions and certificate
  // names; when unreadable, installs report version "no-op". Without
  // `controller`, certificates are not requested (the steps only pretend).
  explicit NoOpStepRunner(std::filesystem::path state_dir, ControllerStub controller = {});

  void SetSink(UpdateSink sink) override;
  void Submit(const topos::v1::RunStep& step) override;
  void Cancel(const std::string& step_id) override;
  std::vector<topos::v1::StepUpdate> RecentOutcomes(std::size_t limit = 200) override;
  std::vector<topos::v1::ServiceReport> ServiceReports() override;

  // Steps executed (distinct step ids answered; resends not counted).
  std::uint64_t executed() const;
  // Submits of a step id already answered (answered from memory).
  std::uint64_t resent() const;
  // Certificates the controller issued to this runner.
  std::uint64_t certificates_issued() const;
  // Wall-clock times of the first and the last step this runner answered
  // for the controller (resends and the swarm's own "swarm-" steps left
  // out); the epoch when none was. Fan-out latency comes from these.
  std::chrono::system_clock::time_point first_answer() const;
  std::chrono::system_clock::time_point last_answer() const;
  // The serial (lowercase hex) of the certificate assigned to `service`;
  // empty when none was.
  std::string CertificateSerial(const std::string& service) const;

 private:
  // Applies `step` to the simulated services; returns its final update
  // (without services). Called with mutex_ held.
  topos::v1::StepUpdate Execute(const topos::v1::RunStep& step);
  std::vector<topos::v1::ServiceReport> ServiceReportsLocked() const;
  // Sends `update` to the sink, or keeps it for the next sink.
  void Deliver(const topos::v1::StepUpdate& update);

  // A certificate as the simulated service holds it (no key, no PEM).
  struct SimulatedCertificate {
    std::string serial;
    std::vector<std::string> names;
    std::chrono::system_clock::time_point not_before;
    std::chrono::system_clock::time_point not_after;
  };
  // request_certificate with a controller: the outcome (without services).
  // Makes the key, CSR and call without mutex_ held.
  topos::v1::StepUpdate RequestCertificate(const topos::v1::RunStep& step);
  // Takes the cached stub (or makes one); Return puts it back.
  std::unique_ptr<topos::v1::AgentService::StubInterface> TakeStub();
  void ReturnStub(std::unique_ptr<topos::v1::AgentService::StubInterface> stub);
  // Drops the cached stub when unused for kStubIdle. Called with mutex_ held.
  void DropIdleStubLocked();
  // Remembers `update` as the outcome of its step id. Called with mutex_ held.
  void RememberLocked(const topos::v1::StepUpdate& update);

  const ControllerStub controller_;

  const std::filesystem::path state_dir_;

  mutable std::mutex mutex_;
  UpdateSink sink_;                                                     // guarded
  std::map<std::string, topos::v1::ServiceReport> services_;           // guarded, by name
  std::unordered_map<std::string, topos::v1::StepUpdate> outcomes_;    // guarded, by step id
  std::deque<std::string> outcome_order_;                              // guarded, oldest first
  std::vector<topos::v1::StepUpdate> undelivered_;                      // guarded
  std::uint64_t executed_ = 0;                                          // guarded
  std::uint64_t resent_ = 0;                                            // guarded
  std::uint64_t certificates_issued_ = 0;                               // guarded
  std::chrono::system_clock::time_point first_answer_, last_answer_;     // guarded
  std::map<std::string, SimulatedCertificate> issued_;     // guarded; by service, to assign
  std::map<std::string, SimulatedCertificate> assigned_;   // guarded; by service
  std::unique_ptr<topos::v1::AgentService::StubInterface> stub_;        // guarded; cached
  std::chrono::steady_clock::time_point stub_used_;                     // guarded
};

}  // namespace topos::bench
