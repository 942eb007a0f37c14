// A running rollout "r-1" of waiting hosts in the given pools, for tests of
// how rollouts are stored.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "topos/v1/rollout.pb.h"

namespace topos::rollout {

using SamplePools = std::vector<std::pair<std::string, std::vector<std::string>>>;

inline v1::Rollout SampleRollout(const SamplePools& pools) {
  v1::Rollout rollout;
  rollout.set_id("r-1");
  rollout.set_kind(v1::ROLLOUT_DEPLOY);
  rollout.set_state("running");
  rollout.mutable_strategy()->set_max_unavailable("1");
  for (const auto& [name, hosts] : pools) {
    v1::RolloutPool* pool = rollout.add_pools();
    pool->set_name(name);
    for (const auto& host : hosts) {
      v1::RolloutHost* entry = pool->add_hosts();
      entry->set_host_fqdn(host);
      entry->set_phase("waiting");
    }
  }
  return rollout;
}

}  // namespace topos::rollout
