// AdminService: PlanRollout (what each host of the published topology needs
// to converge; read-only, changes nothing).
#include <chrono>
#include <map>

#include "controller/api/admin_service.h"
#include "controller/rollout/planner.h"
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
      auto slice = topology::BuildHostSlice(*published.topology, fqdn, published.version,
                                            published.created_at_unix);
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
