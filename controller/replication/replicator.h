// Replication of the published topology to the hosts' local management
// stores: holds the latest published version, builds each host's slice, and
// pushes it over the host's stream — to every connected host on publish, and
// to a host whose Hello reports an older version when it reconnects.
//
// Thread-safety: all methods are safe from any thread. Pushes triggered by a
// Hello run on the executor, never on gRPC's threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/executor.h"
#include "controller/hub/agent_hub.h"
#include "controller/store/store.h"
#include "controller/topology/host_slice.h"
#include "topos/v1/topology.pb.h"

namespace topos::controller {

struct PublishedTopology {
  std::uint64_t version = 0;  // 0: nothing published
  std::int64_t created_at_unix = 0;
  std::shared_ptr<const v1::Topology> topology;  // null when version is 0
  // `topology` indexed to build each host's slice in time proportional to
  // the slice (a publish builds one per connected host); null when version
  // is 0.
  std::shared_ptr<const topology::HostSliceIndex> slices;
};

class Replicator {
 public:
  Replicator(AgentHub& hub, Executor& executor) : hub_(hub), executor_(executor) {}

  // Loads the latest published version from `store` (at start-up).
  Status Load(Store& store);
  struct PushCount {
    std::size_t sent = 0;     // hosts sent an update
    std::size_t changed = 0;  // of those, hosts whose slice content changed
  };
  // Makes `version` current and pushes it to every connected host the
  // topology names: the whole slice where its content changed since the last
  // one sent, only the new version number where it did not. Indexes the
  // topology once, so the cost grows linearly with the hosts.
  PushCount Publish(const TopologyVersionRecord& version, v1::Topology topology);
  // Sends `fqdn` its whole current slice (resync, reconnect). False if it is
  // not connected or not in the topology.
  bool Push(const std::string& fqdn);
  PushCount PushAll(bool whole_slices);
  // From the hub: the host's local store holds `applied`.
  void OnHello(const std::string& fqdn, std::uint64_t applied);
  // From the hub: the host refused an update (e.g. a version-only update
  // that did not match its content); it gets the whole slice.
  void OnRefused(const std::string& fqdn);

  PublishedTopology Current() const;

 private:
  std::pair<bool, bool> Send(const std::string& fqdn, bool whole);

  AgentHub& hub_;
  Executor& executor_;
  mutable std::mutex mutex_;
  PublishedTopology current_;  // guarded by mutex_
  // Content hash of the last whole slice sent to each host; guarded by mutex_.
  std::unordered_map<std::string, std::string> sent_content_;
};

}  // namespace topos::controller
