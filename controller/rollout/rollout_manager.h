// Every rollout of this controller: creates them (plan, stages, stored
// steps), refuses one that would touch a host another unfinished rollout
// holds, hands operator commands to their runners, and at start-up resumes
// the rollouts the store holds as not done.
//
// Thread-safety: every public method is safe from any thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "controller/artifacts/artifact_store.h"
#include "controller/replication/replicator.h"
#include "controller/rollout/rollout_builder.h"
#include "controller/rollout/rollout_runner.h"
#include "topos/v1/rollout.pb.h"

namespace topos::rollout {

class RolloutManager {
 public:
  struct Services {
    controller::Store& store;
    controller::StepTracker& steps;
    controller::AgentHub& hub;
    controller::Replicator& replicator;
    controller::ArtifactStore& artifacts;
  };

  explicit RolloutManager(Services services) : services_(services) {}
  ~RolloutManager();  // Shutdown()

  // Loads and starts every stored rollout that is not done. A record that
  // cannot be read is logged and left alone; the others still resume.
  Status Recover();
  // Stops every runner without changing what is stored (they resume at the
  // next Recover). Idempotent. Runners are freed with the manager, after the
  // server has stopped taking calls.
  void Shutdown();

  // A deploy rollout of the published topology. FailedPrecondition when
  // nothing is published or needs a change, or when a host is held by
  // another rollout (naming it); InvalidArgument for bad flags.
  Result<v1::StartRolloutResponse> Start(const v1::StartRolloutRequest& request,
                                         const std::string& actor);
  // A certificate rollout (certificate_rollout_builder.h) of the published
  // topology: request_certificate (with request.reissue) and
  // assign_certificate for every certificate-bound service of the selected
  // hosts. With request.effective_at_unix (0: now) no host starts before
  // that time and the rollout shows state "scheduled" meanwhile.
  // InvalidArgument for bad flags, an unknown --host/--pool, or an
  // effective time more than 60 s past or 30 days ahead; FailedPrecondition
  // as for Start. The CA rotation calls it with all and reissue.
  Result<v1::StartRolloutResponse> StartCertificates(
      const v1::StartCertificateRolloutRequest& request, const std::string& actor);
  // Puts the hosts of rollout `request.id` back as they were before it.
  // FailedPrecondition while that rollout is not done, and for a
  // certificate rollout (certificates are not put back; revoke them).
  Result<v1::StartRolloutResponse> Rollback(const v1::RollbackRolloutRequest& request,
                                            const std::string& actor);

  Result<v1::Rollout> Get(const std::string& id);  // NotFound
  Result<std::vector<v1::RolloutEvent>> Events(const std::string& id, std::uint64_t after_seq);
  // Newest first, without their hosts.
  Result<std::vector<v1::Rollout>> List();
  Result<v1::Rollout> Control(const v1::ControlRolloutRequest& request, const std::string& actor);

  // For watch: one read of stored events, at most a page of them.
  struct EventPage {
    std::vector<v1::RolloutEvent> events;
    bool more = false;  // further stored events follow at once
  };
  // Waits up to `timeout` for events after `after_seq`, then returns the
  // next page of them (possibly empty).
  Result<EventPage> WaitForEvents(const std::string& id, std::uint64_t after_seq,
                                  std::chrono::milliseconds timeout);
  // Whether rollout `id` is done: once true, every event it will have is
  // stored (NotFound).
  Result<bool> Done(const std::string& id);

 private:
  Result<v1::StartRolloutResponse> Create(v1::RolloutKind kind, const v1::RolloutStrategySpec& spec,
                                          const std::vector<std::string>& only_hosts,
                                          const v1::Rollout* undo, const std::string& actor);
  // The published topology, enrolled hosts, a new id and the time, for a
  // builder. FailedPrecondition when nothing is published.
  Result<BuildInput> NewBuildInput(const RolloutStrategy& strategy);
  // Stores `record` (kind, ids and options set; pools filled here) with
  // its steps, after the busy-host check, and starts its runner.
  Result<v1::StartRolloutResponse> Launch(v1::Rollout record, const RolloutStrategy& strategy,
                                          BuiltRollout built, const std::string& description,
                                          const std::string& actor);
  RolloutRunner* FindLocked(const std::string& id);

  Services services_;
  std::mutex mutex_;  // serializes creation (the busy-host check) and the map
  std::map<std::string, std::unique_ptr<RolloutRunner>> runners_;  // guarded
  bool shut_down_ = false;                                         // guarded
};

}  // namespace topos::rollout
