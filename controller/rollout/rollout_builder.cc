#include "controller/rollout/rollout_builder.h"

#include <algorithm>
#include <set>

#include "controller/rollout/stages.h"
#include "controller/topology/host_slice.h"

namespace topos::rollout {
namespace {

// Every pool of the topology with what it must come after (see the header).
std::vector<PoolNode> PoolDependencies(const v1::Topology& topology,
                                       const std::vector<v1::Role>& roles) {
  std::map<std::string, std::string> pool_of_host;
  for (const auto& pool : topology.pools()) {
    for (const auto& host : pool.hosts()) pool_of_host.emplace(host, pool.name());
  }
  std::map<std::string, const v1::Store*> stores;
  for (const auto& store : topology.stores()) stores[store.name()] = &store;
  std::map<std::string, std::vector<std::string>> deploy_after;
  for (const auto& role : roles) {
    deploy_after[role.name()].assign(role.deploy_after().begin(), role.deploy_after().end());
  }

  std::vector<PoolNode> nodes;
  for (const auto& pool : topology.pools()) {
    PoolNode& node = nodes.emplace_back();
    node.name = pool.name();
    auto add = [&](const std::string& name) {
      if (!name.empty() && name != pool.name()) node.depends_on.push_back(name);
    };
    for (const std::string* store_name :
         {&pool.database_store(), &pool.file_store(), &pool.compliance_store()}) {
      // A store and its backup chain; `seen` stops a (validator-refused) loop.
      std::set<std::string> seen;
      for (auto it = stores.find(*store_name); it != stores.end() && seen.insert(it->first).second;
           it = stores.find(it->second->backup())) {
        auto host_pool = pool_of_host.find(it->second->host());
        if (host_pool != pool_of_host.end()) add(host_pool->second);
      }
    }
    add(pool.routes_through());
    for (const auto& role_name : deploy_after[pool.role()]) {
      for (const auto& other : topology.pools()) {
        if (other.role() == role_name) add(other.name());
      }
    }
  }
  return nodes;
}

// `stages` keeping only the pools in `wanted`, without empty stages.
std::vector<std::vector<std::string>> KeepPools(const std::vector<std::vector<std::string>>& stages,
                                                const std::map<std::string, PoolHosts>& wanted) {
  std::vector<std::vector<std::string>> kept;
  for (const auto& stage : stages) {
    std::vector<std::string> names;
    for (const auto& name : stage) {
      if (wanted.contains(name)) names.push_back(name);
    }
    if (!names.empty()) kept.push_back(std::move(names));
  }
  return kept;
}

void Finish(BuiltRollout& built, std::vector<std::vector<std::string>> stages,
            std::map<std::string, PoolHosts> pools) {
  built.stages = std::move(stages);
  for (const auto& stage : built.stages) {
    for (const auto& name : stage) built.pools.push_back(std::move(pools[name]));
  }
}

std::string ServiceVersion(const std::vector<v1::ServiceReport>& services, const std::string& name) {
  for (const auto& service : services) {
    if (service.name() == name) return service.version();
  }
  return "";
}

}  // namespace

std::shared_ptr<const topology::HostSliceIndex> SliceIndexFor(const BuildInput& input) {
  if (input.slices != nullptr && &input.slices->topology() == input.topology) return input.slices;
  std::shared_ptr<const v1::Topology> indexed =
      input.published.get() == input.topology ? input.published
                                              : std::make_shared<const v1::Topology>(*input.topology);
  return std::make_shared<const topology::HostSliceIndex>(std::move(indexed));
}

Result<BuiltRollout> BuildDeployRollout(const BuildInput& input) {
  const v1::Topology& topology = *input.topology;
  const auto slices = SliceIndexFor(input);
  std::set<std::string> only(input.only_hosts.begin(), input.only_hosts.end());
  for (const auto& host : only) {
    auto placement = slices->Place(host);
    if (placement.pools.empty()) {
      return Status::InvalidArgument("--host " + host + ": no pool of topology version " +
                                     std::to_string(input.topology_version) + " has this host");
    }
    if (!input.enrolled.contains(host)) {
      return Status::InvalidArgument("--host " + host +
                                     ": not enrolled (toposctl token create --host " + host + ")");
    }
  }

  BuiltRollout built;
  std::map<std::string, PoolHosts> pools;
  int converged = 0;
  int host_index = 0;
  for (const auto& pool : topology.pools()) {
    for (const auto& host : pool.hosts()) {
      if (!only.empty() && !only.contains(host)) continue;
      auto actual = input.enrolled.find(host);
      if (actual == input.enrolled.end()) {
        built.left_out.push_back(host + ": not enrolled");
        continue;
      }
      auto slice = slices->Build(host, input.topology_version, input.published_at_unix);
      if (!slice) continue;  // it is in this pool, so this does not happen
      HostPlan plan = PlanHost(*slice, actual->second, input.resolve, input.now);
      if (!plan.error.empty()) {
        return Status::FailedPrecondition("cannot plan " + host + ": " + plan.error);
      }
      if (plan.converged()) {
        ++converged;
        built.left_out.push_back(host + ": converged");
        continue;
      }
      auto steps = controller::PlanHostDeploy(*slice, input.resolve,
                                              input.rollout_id + "-" + std::to_string(++host_index),
                                              input.step_timeout_seconds);
      if (!steps.ok()) return steps.status();
      built.steps[host] = std::move(*steps);
      auto& before = built.before[host];
      for (const auto& service : slice->services()) {
        v1::ServiceBefore& entry = before.emplace_back();
        entry.set_service(service.name());
        entry.set_version(ServiceVersion(actual->second.services, service.name()));
      }
      PoolHosts& pool_hosts = pools[pool.name()];
      pool_hosts.name = pool.name();
      pool_hosts.hosts.push_back(host);
    }
  }
  if (pools.empty()) {
    return Status::FailedPrecondition(
        "nothing to roll out: " + std::to_string(converged) + " host" + (converged == 1 ? "" : "s") +
        " already converged to topology version " + std::to_string(input.topology_version) +
        (built.left_out.size() > static_cast<std::size_t>(converged)
             ? ", the others are not enrolled"
             : ""));
  }
  auto stages = OrderStages(PoolDependencies(topology, input.roles));
  if (!stages.ok()) return stages.status();
  auto kept = KeepPools(*stages, pools);
  Finish(built, std::move(kept), std::move(pools));
  return built;
}

Result<BuiltRollout> BuildRollbackRollout(const BuildInput& input, const v1::Rollout& earlier) {
  const auto slices = SliceIndexFor(input);
  BuiltRollout built;
  std::map<std::string, PoolHosts> pools;
  std::map<std::uint32_t, std::vector<std::string>, std::greater<>> stage_pools;
  int host_index = 0;
  for (const auto& pool : earlier.pools()) {
    for (const auto& host : pool.hosts()) {
      if (host.phase() == "waiting" || host.phase() == "skipped") continue;
      auto actual = input.enrolled.find(host.host_fqdn());
      if (actual == input.enrolled.end()) {
        built.left_out.push_back(host.host_fqdn() + ": no longer enrolled");
        continue;
      }
      v1::HostConfig slice;
      if (auto found =
              slices->Build(host.host_fqdn(), input.topology_version, input.published_at_unix)) {
        slice = std::move(*found);
      }
      slice.set_host_fqdn(host.host_fqdn());
      const std::string prefix = input.rollout_id + "-" + std::to_string(++host_index);
      std::vector<v1::RunStep> steps;
      for (const auto& before : host.before()) {
        const std::string now_version = ServiceVersion(actual->second.services, before.service());
        if (now_version == before.version()) continue;
        const auto kind = before.version().empty() ? v1::UNINSTALL_SERVICE : v1::ROLLBACK;
        auto step = controller::PlanServiceAction(slice, kind, before.service(),
                                                  prefix + "-" + std::to_string(steps.size() + 1),
                                                  input.step_timeout_seconds);
        if (!step.ok()) {
          built.left_out.push_back(host.host_fqdn() + ": " + step.status().message());
          continue;
        }
        for (auto& one : *step) steps.push_back(std::move(one));
      }
      if (steps.empty()) {
        if (built.left_out.empty() || built.left_out.back().rfind(host.host_fqdn(), 0) != 0) {
          built.left_out.push_back(host.host_fqdn() + ": runs what it ran before");
        }
        continue;
      }
      built.steps[host.host_fqdn()] = std::move(steps);
      PoolHosts& pool_hosts = pools[pool.name()];
      if (pool_hosts.name.empty()) stage_pools[pool.stage()].push_back(pool.name());
      pool_hosts.name = pool.name();
      pool_hosts.hosts.push_back(host.host_fqdn());
    }
  }
  if (pools.empty()) {
    return Status::FailedPrecondition("nothing to roll back: no host of rollout " + earlier.id() +
                                      " runs a different version than before it");
  }
  std::vector<std::vector<std::string>> stages;
  for (auto& [stage, names] : stage_pools) stages.push_back(std::move(names));
  Finish(built, std::move(stages), std::move(pools));
  return built;
}

}  // namespace topos::rollout
