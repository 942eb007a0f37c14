// What a new rollout covers: which hosts, in which pools and stages, and the
// steps each host will run. Computed once, when the rollout is created, and
// stored with it, so that a controller restarted mid-rollout resends the very
// same step ids (agents run each id once) instead of planning afresh.
//
// Deploy rollouts (BuildDeployRollout): every host of the published topology
// that is enrolled, is in a pool, and whose plan (planner.h) is not converged
// takes part, with the full deploy chain of deploy_plan.h (idempotent on the
// agent). Hosts never enrolled or removed are left out with a note, not
// waited for; enrolled hosts that are offline are in (the engine waits for
// them up to --offline-timeout). Pools are ordered into stages
// (stages.h): a pool comes after the pools holding its stores' hosts
// (database, file, compliance store and their backups), after the pool it
// routes through, and after the pools of the roles its role's deploy_after
// names.
//
// Rollback rollouts (BuildRollbackRollout): the hosts an earlier rollout
// started, for each service whose version differs from the one the host ran
// before it: `rollback` to the previous version, or `uninstall_service` when
// the host had none. Stages run in reverse order (dependents first).
//
// Pure: no store, network or clock. Thread-safe (no state).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "controller/deploy/deploy_plan.h"
#include "controller/rollout/engine.h"
#include "controller/rollout/planner.h"
#include "controller/topology/host_slice.h"
#include "topos/v1/rollout.pb.h"
#include "topos/v1/topology.pb.h"

namespace topos::rollout {

struct BuildInput {
  const v1::Topology* topology = nullptr;
  std::shared_ptr<const v1::Topology> published;  // optional: keeps *topology alive
  // Optional: *topology indexed (PublishedTopology::slices of its version).
  // Used only when slices->topology() is *topology; otherwise each build
  // indexes *topology once itself (O(its size)).
  std::shared_ptr<const topology::HostSliceIndex> slices;
  std::uint64_t topology_version = 0;
  std::int64_t published_at_unix = 0;
  std::vector<v1::Role> roles;                 // the catalog published with it (deploy_after)
  std::map<std::string, HostActual> enrolled;  // enrolled, not removed hosts, by FQDN
  controller::ArtifactResolver resolve;
  std::chrono::system_clock::time_point now;
  std::string rollout_id;                      // step ids start with it
  std::uint32_t step_timeout_seconds = 300;
  std::vector<std::string> only_hosts;         // empty: every host needing a change
};

struct BuiltRollout {
  std::vector<std::vector<std::string>> stages;
  std::vector<PoolHosts> pools;  // hosts in topology order
  std::map<std::string, std::vector<v1::RunStep>> steps;      // by host
  std::map<std::string, std::vector<v1::ServiceBefore>> before;  // by host
  std::vector<std::string> left_out;  // "sql01.contoso.test: converged", for people
};

// The index every builder places hosts and builds their slices with, so a
// rollout costs O(topology + slices) rather than O(hosts x topology):
// input.slices when it indexes *input.topology, else a new index of
// *input.topology (sharing input.published when it is that topology, else
// on a copy of it).
std::shared_ptr<const topology::HostSliceIndex> SliceIndexFor(const BuildInput& input);

// FailedPrecondition when nothing needs a change (naming how many hosts are
// converged) or a planned host's artifact is missing (the deploy would fail
// at once; the message says which push is needed); InvalidArgument for an
// --host the topology does not name or that is not enrolled, and for a
// dependency cycle between pools.
Result<BuiltRollout> BuildDeployRollout(const BuildInput& input);

// `earlier` is the stored rollout to undo; `input.only_hosts` is ignored.
// FailedPrecondition when no host of it has anything to roll back.
Result<BuiltRollout> BuildRollbackRollout(const BuildInput& input, const v1::Rollout& earlier);

}  // namespace topos::rollout
