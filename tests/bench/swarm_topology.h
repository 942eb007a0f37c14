// The simulated fleet's names and the topology that places it, shared by
// topos-swarm's own publish rounds and its --write-topology mode (which
// scripts/bench-fleet.sh publishes with toposctl when it runs several swarm
// processes against one controller).
#pragma once

#include <string>

namespace topos::bench {

// `pattern` with "{n}" replaced by `n` (sim-{n}.bench.test → sim-7.bench.test).
std::string SwarmHostName(const std::string& pattern, int n);

// Where SwarmTopology puts the setting that changes every round: globally
// (every host's slice changes) or on the first pool only (its ten hosts get
// a new slice, every other host the same content under the new version,
// the common case of a publish that touches part of a fleet).
enum class RoundSettingScope { kGlobal, kFirstPool };

// A topology naming hosts 0 … count−1 of `pattern`, in pools of ten of
// `role` (pools the size real deployments use, so a slice stays small), with
// the setting bench.round = `setting` (so each round is new content) where
// `scope` says, and `services_per_host` services with a certificate binding
// on every host.
std::string SwarmTopology(const std::string& pattern, int count, const std::string& role,
                          const std::string& setting, int services_per_host,
                          RoundSettingScope scope = RoundSettingScope::kGlobal);

}  // namespace topos::bench
