// A host's slice of a published topology: the pools it belongs to (or
// carries, on a single server), the stores they use, the services of their
// roles, and the settings that apply to it. Pure functions of the topology.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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

}  // namespace topos::topology
