// A host's slice of a published topology: the pools it belongs to (or
// carries, on a single server), the stores they use, the services of their
// roles, and the settings that apply to it. Pure functions of the topology.
//
// One slice: BuildHostSlice, O(size of the topology). A slice for every host
// (replication on publish): a HostSliceIndex, built once in O(size of the
// topology), then each slice in time proportional to its own size, so a
// whole fleet costs O(size of the topology + sum of the slices) instead of
// O(hosts x topology).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "topos/v1/topology.pb.h"

namespace topos::topology {

// Nullopt if the topology does not name `host_fqdn` in any pool.
std::optional<v1::HostConfig> BuildHostSlice(const v1::Topology& topology,
                                             const std::string& host_fqdn, std::uint64_t version,
                                             std::int64_t published_at_unix);

// SHA-256 of the deterministic serialization of `topology`: equal content,
// equal hash, whatever the YAML's formatting or comments.
std::string CanonicalSha256(const v1::Topology& topology);

// Site and pool names of `host_fqdn` in `topology` (empty if not named).
struct Placement {
  std::string site;
  std::vector<std::string> pools;
};
Placement PlaceHost(const v1::Topology& topology, const std::string& host_fqdn);

// One topology indexed by host, store name, store host and service role, to
// build many hosts' slices: Build and Place give exactly what BuildHostSlice
// and PlaceHost give for the same topology, each in time proportional to the
// host's slice rather than to the whole topology.
//
// Thread-safety: immutable after construction; every method is safe from
// any thread at once.
class HostSliceIndex {
 public:
  // Indexes `topology` (not null), which it keeps alive; O(its size).
  explicit HostSliceIndex(std::shared_ptr<const v1::Topology> topology);
  HostSliceIndex(const HostSliceIndex&) = delete;
  HostSliceIndex& operator=(const HostSliceIndex&) = delete;

  // BuildHostSlice(topology(), host_fqdn, version, published_at_unix).
  std::optional<v1::HostConfig> Build(const std::string& host_fqdn, std::uint64_t version,
                                      std::int64_t published_at_unix) const;
  // PlaceHost(topology(), host_fqdn).
  Placement Place(const std::string& host_fqdn) const;

  const v1::Topology& topology() const { return *topology_; }

 private:
  // Keys view strings of *topology_, which never changes; values are element
  // indexes in topology order.
  using Indexes = std::unordered_map<std::string_view, std::vector<int>>;

  const std::vector<int>* Find(const Indexes& indexes, std::string_view key) const;

  std::shared_ptr<const v1::Topology> topology_;
  Indexes pools_of_host_;     // host fqdn -> pools listing it, each pool once
  Indexes stores_by_name_;    // store name -> stores of that name
  Indexes stores_on_host_;    // host fqdn -> stores whose host it is
  Indexes services_by_role_;  // role -> services of that role
};

}  // namespace topos::topology
