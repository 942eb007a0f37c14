#include "controller/rollout/rollout_record.h"

#include <utility>

namespace topos::rollout {

std::string SerializeHeader(v1::Rollout& rollout) {
  std::vector<google::protobuf::RepeatedPtrField<v1::RolloutHost>> lent(
      static_cast<std::size_t>(rollout.pools_size()));
  for (int p = 0; p < rollout.pools_size(); ++p) rollout.mutable_pools(p)->mutable_hosts()->Swap(&lent[p]);
  std::string header = rollout.SerializeAsString();
  for (int p = 0; p < rollout.pools_size(); ++p) rollout.mutable_pools(p)->mutable_hosts()->Swap(&lent[p]);
  return header;
}

controller::RolloutHostRecord HostRecord(const v1::Rollout& rollout, int pool, int position) {
  return {pool, position, rollout.pools(pool).hosts(position).SerializeAsString()};
}

std::vector<controller::RolloutHostRecord> HostRecords(const v1::Rollout& rollout) {
  std::vector<controller::RolloutHostRecord> hosts;
  for (int p = 0; p < rollout.pools_size(); ++p) {
    for (int h = 0; h < rollout.pools(p).hosts_size(); ++h) hosts.push_back(HostRecord(rollout, p, h));
  }
  return hosts;
}

Result<v1::Rollout> AssembleRollout(const std::string& header,
                                    const std::vector<controller::RolloutHostRecord>& hosts) {
  v1::Rollout rollout;
  if (!rollout.ParseFromString(header)) {
    return Status::InvalidArgument("its stored record does not parse");
  }
  if (hosts.empty()) return rollout;  // stored before hosts were kept apart
  for (auto& pool : *rollout.mutable_pools()) pool.clear_hosts();
  for (const auto& stored : hosts) {
    if (stored.pool < 0 || stored.pool >= rollout.pools_size()) {
      return Status::InvalidArgument("a stored host belongs to pool " +
                                     std::to_string(stored.pool) + ", but the rollout has " +
                                     std::to_string(rollout.pools_size()) + " pools");
    }
    v1::RolloutPool& pool = *rollout.mutable_pools(stored.pool);
    if (stored.position != pool.hosts_size()) {
      return Status::InvalidArgument("pool " + pool.name() + " has a stored host at position " +
                                     std::to_string(stored.position) + " where " +
                                     std::to_string(pool.hosts_size()) + " was expected");
    }
    if (!pool.add_hosts()->ParseFromString(stored.host)) {
      return Status::InvalidArgument("host " + std::to_string(stored.position) +
                                     " of pool " + pool.name() + " does not parse");
    }
  }
  return rollout;
}

Result<v1::Rollout> ReadStoredRollout(const controller::RolloutRecord& stored) {
  auto rollout = AssembleRollout(stored.snapshot, stored.hosts);
  if (!rollout.ok()) return rollout.status().WithContext("rollout " + stored.id);
  return rollout;
}

}  // namespace topos::rollout
