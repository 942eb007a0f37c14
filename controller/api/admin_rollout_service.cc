// AdminService: rollouts. PlanRollout (what each host of the published
// topology needs to converge; read-only) and the commands that start,
// inspect and steer rollouts (controller/rollout/rollout_manager.h).
#include <chrono>
#include <map>

#include <spdlog/spdlog.h>

#include "controller/api/admin_service.h"
#include "controller/rollout/planner.h"
#include "common/text.h"
#include "controller/topology/host_slice.h"
#include "topos/v1/agent_journal.pb.h"

namespace topos::controller {
namespace {

void CopyPlan(const rollout::HostPlan& plan, topos::v1::HostPlan* out) {
  out->set_converged(plan.converged());
  for (const auto& change : plan.changes) {
    auto* planned = out->add_changes();
    planned->set_kind(change.kind);
    planned->set_service(change.service);
    planned->set_reason(change.reason);
  }
  for (const auto& note : plan.notes) out->add_notes(note);
  out->set_error(plan.error);
}

}  // namespace

grpc::ServerUnaryReactor* AdminServiceHandler::PlanRollout(
    grpc::CallbackServerContext* context, const topos::v1::PlanRolloutRequest*,
    topos::v1::PlanRolloutResponse* response) {
  return Run(context, kAnyRole, [this, response](const Caller&) {
    PublishedTopology published = context_.replicator.Current();
    if (!published.topology) {
      return ToGrpc(Status::FailedPrecondition(
          "no topology is published: run toposctl topology publish first"));
    }
    auto records = context_.store.ListHosts();
    if (!records.ok()) return ToGrpc(records.status());
    std::map<std::string, const HostRecord*> enrolled;
    for (const auto& record : *records) enrolled[record.fqdn] = &record;
    // Many hosts run the same services: resolve each artifact once per plan.
    std::map<std::string, Result<ArtifactRecord>> resolved;
    const ArtifactResolver resolve = [this, &resolved](const v1::Service& service) {
      std::string key = service.name() + '\n' + service.version() + '\n' + service.artifact();
      auto cached = resolved.find(key);
      if (cached == resolved.end()) {
        cached = resolved
                     .emplace(key, context_.artifacts.Resolve(service.name(), service.version(),
                                                              service.artifact()))
                     .first;
      }
      return cached->second;
    };
    const auto now = std::chrono::system_clock::now();

    response->set_published_version(published.version);
    for (const auto& named : published.topology->hosts()) {
      const std::string& fqdn = named.fqdn();
      auto* out = response->add_hosts();
      out->set_host_fqdn(fqdn);
      auto found = enrolled.find(fqdn);
      if (found == enrolled.end()) {
        out->set_status("not enrolled");
        out->set_error("not enrolled: create a token (toposctl token create --host " + fqdn + ")");
        continue;
      }
      const HostRecord& record = *found->second;
      if (record.removed_at) {
        out->set_status("removed");
        out->set_error("removed: enroll it again with a new token (toposctl token create --host " +
                       fqdn + ")");
        continue;
      }
      LiveState live = context_.hub.Live(fqdn);
      out->set_status(live.connected ? "online" : "offline");
      // The version's own index: the slice in time proportional to it, not
      // to the whole topology (a plan covers every host).
      auto slice = published.slices->Build(fqdn, published.version, published.created_at_unix);
      if (!slice) {
        out->set_converged(true);
        out->add_notes("in no pool of the topology: nothing to deploy");
        continue;
      }
      rollout::HostActual actual;
      actual.connected = live.connected;
      actual.applied_config_version =
          live.connected ? live.applied_config_version : record.applied_config_version;
      topos::v1::StoredServiceReports services;
      if (!record.services.empty() && !services.ParseFromString(record.services)) {
        out->set_error("its last service report is unreadable; restart its agent to report again");
        continue;
      }
      actual.services.assign(services.services().begin(), services.services().end());
      CopyPlan(rollout::PlanHost(*slice, actual, resolve, now), out);
    }
    return grpc::Status::OK;
  });
}

}  // namespace topos::controller

namespace topos::controller {
namespace {

// Rollout ids come from operators: check their shape before they reach a
// store query or a message.
Status CheckRolloutId(const std::string& id) {
  const bool shaped = id.size() > 2 && id.size() <= 40 && id.rfind("r-", 0) == 0 &&
                      id.find_first_not_of("0123456789abcdef", 2) == std::string::npos;
  if (shaped) return Status::Ok();
  return Status::InvalidArgument("\"" + id.substr(0, 40) +
                                 "\" is not a rollout id (like r-1a2b3c4d5e6f; see toposctl rollout list)");
}

constexpr std::size_t kMaxHostFilters = 10000;

#define TOPOS_RETURN_GRPC_IF_ERROR(expr)           \
  do {                                             \
    if (Status status_ = (expr); !status_.ok()) {  \
      return ToGrpc(status_);                      \
    }                                              \
  } while (false)

}  // namespace

grpc::ServerUnaryReactor* AdminServiceHandler::StartRollout(
    grpc::CallbackServerContext* context, const topos::v1::StartRolloutRequest* request,
    topos::v1::StartRolloutResponse* response) {
  return Run(context, kRoleDeployer, [this, request, response](const Caller& caller) {
    if (static_cast<std::size_t>(request->hosts_size()) > kMaxHostFilters) {
      return ToGrpc(Status::InvalidArgument("at most 10000 --host filters"));
    }
    for (const auto& host : request->hosts()) {
      Status fqdn = CheckFqdn(host);
      if (!fqdn.ok()) return ToGrpc(Status::InvalidArgument("--host: " + fqdn.message()));
    }
    auto started = context_.rollouts.Start(*request, caller.subject);
    if (!started.ok()) return ToGrpc(started.status());
    *response = std::move(*started);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::StartCertificateRollout(
    grpc::CallbackServerContext* context, const topos::v1::StartCertificateRolloutRequest* request,
    topos::v1::StartRolloutResponse* response) {
  return Run(context, kRoleDeployer, [this, request, response](const Caller& caller) {
    if (static_cast<std::size_t>(request->hosts_size()) > kMaxHostFilters ||
        static_cast<std::size_t>(request->pools_size()) > kMaxHostFilters) {
      return ToGrpc(Status::InvalidArgument("at most 10000 --host or --pool filters"));
    }
    for (const auto& host : request->hosts()) {
      Status fqdn = CheckFqdn(host);
      if (!fqdn.ok()) return ToGrpc(Status::InvalidArgument("--host: " + fqdn.message()));
    }
    for (const auto& pool : request->pools()) {
      if (pool.empty() || pool.size() > 63) {
        return ToGrpc(Status::InvalidArgument("--pool: a pool name of 1-63 characters is required"));
      }
    }
    auto started = context_.rollouts.StartCertificates(*request, caller.subject);
    if (!started.ok()) return ToGrpc(started.status());
    *response = std::move(*started);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::RollbackRollout(
    grpc::CallbackServerContext* context, const topos::v1::RollbackRolloutRequest* request,
    topos::v1::StartRolloutResponse* response) {
  return Run(context, kRoleDeployer, [this, request, response](const Caller& caller) {
    TOPOS_RETURN_GRPC_IF_ERROR(CheckRolloutId(request->id()));
    auto started = context_.rollouts.Rollback(*request, caller.subject);
    if (!started.ok()) return ToGrpc(started.status());
    *response = std::move(*started);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::ListRollouts(
    grpc::CallbackServerContext* context, const topos::v1::ListRolloutsRequest*,
    topos::v1::ListRolloutsResponse* response) {
  return Run(context, kAnyRole, [this, response](const Caller&) {
    auto rollouts = context_.rollouts.List();
    if (!rollouts.ok()) return ToGrpc(rollouts.status());
    for (auto& rollout : *rollouts) *response->add_rollouts() = std::move(rollout);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::GetRollout(
    grpc::CallbackServerContext* context, const topos::v1::GetRolloutRequest* request,
    topos::v1::GetRolloutResponse* response) {
  return Run(context, kAnyRole, [this, request, response](const Caller&) {
    TOPOS_RETURN_GRPC_IF_ERROR(CheckRolloutId(request->id()));
    auto rollout = context_.rollouts.Get(request->id());
    if (!rollout.ok()) return ToGrpc(rollout.status());
    *response->mutable_rollout() = std::move(*rollout);
    if (request->with_events()) {
      std::uint64_t after = 0;
      for (;;) {
        auto events = context_.rollouts.Events(request->id(), after);
        if (!events.ok()) return ToGrpc(events.status());
        if (events->empty()) break;
        after = events->back().seq();
        for (auto& event : *events) *response->add_events() = std::move(event);
      }
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::ControlRollout(
    grpc::CallbackServerContext* context, const topos::v1::ControlRolloutRequest* request,
    topos::v1::ControlRolloutResponse* response) {
  return Run(context, kRoleDeployer, [this, request, response](const Caller& caller) {
    TOPOS_RETURN_GRPC_IF_ERROR(CheckRolloutId(request->id()));
    if (request->reason().size() > 1000) {
      return ToGrpc(Status::InvalidArgument("--reason is longer than 1000 bytes"));
    }
    auto rollout = context_.rollouts.Control(*request, caller.subject);
    if (!rollout.ok()) return ToGrpc(rollout.status());
    spdlog::info("operator={} rollout {}: {}", caller.subject, request->id(),
                 topos::v1::RolloutAction_Name(request->action()));
    *response->mutable_rollout() = std::move(*rollout);
    return grpc::Status::OK;
  });
}

}  // namespace topos::controller
