// The steps that take one host to its published configuration, in order:
//
//   setup_local_store (the published version), then for each of the host's
//   services: check_prerequisites, install_service, request_certificate and
//   assign_certificate (when it has a certificate binding), start_service.
//
// The local store comes first because the other steps read the service's
// manifest from it. Every step is idempotent on the agent, so the same plan
// run twice changes nothing the second time. Pure: no I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "controller/store/store.h"
#include "topos/v1/agent.pb.h"
#include "topos/v1/topology.pb.h"

namespace topos::controller {

using ArtifactResolver = std::function<Result<ArtifactRecord>(const v1::Service&)>;

// Fails before any step is planned if an artifact cannot be resolved (the
// error says which `toposctl artifact push` is missing).
Result<std::vector<v1::RunStep>> PlanHostDeploy(const v1::HostConfig& slice,
                                                const ArtifactResolver& resolve,
                                                const std::string& step_id_prefix,
                                                std::uint32_t deadline_seconds);

// One step for one service, outside the full plan: START_SERVICE or
// ROLLBACK of a service the host's slice names, STOP_SERVICE or
// UNINSTALL_SERVICE of any service (it may have left the topology).
// InvalidArgument for another kind or a missing service name.
Result<std::vector<v1::RunStep>> PlanServiceAction(const v1::HostConfig& slice, v1::StepKind action,
                                                   const std::string& service,
                                                   const std::string& step_id_prefix,
                                                   std::uint32_t deadline_seconds);

// "install_service topos-pchat (artifact 1a2b3c4d5e6f, 3.1 MB)", for humans.
std::string DescribeStep(const v1::RunStep& step);
// "install_service": the kind as operators read it.
std::string StepKindName(v1::StepKind kind);

}  // namespace topos::controller
