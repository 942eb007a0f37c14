// check_prerequisites: compares a service's Prerequisites with this host.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "topos/v1/topology.pb.h"

namespace topos::agent {

// What the host has; gathered by ObserveHost, built by hand in tests.
struct HostObservation {
  std::string os_id;                 // /etc/os-release ID, e.g. "debian"
  unsigned cpus = 0;
  std::uint64_t memory_mb = 0;
  std::uint64_t free_disk_mb = 0;    // under the install directory
  std::vector<std::string> path_dirs;  // PATH split on ':'
};

HostObservation ObserveHost(const std::filesystem::path& install_dir);

// Each unmet requirement as one line naming it, e.g.
// "min_memory_mb: needs 4096 MiB, host has 2048 MiB",
// "executables: \"java\" not found on PATH", "ports: 5041 is in use".
// Empty: all met. Port checks bind 0.0.0.0:PORT (TCP) and release it.
std::vector<std::string> UnmetPrerequisites(const topos::v1::Prerequisites& wanted,
                                            const HostObservation& host);

// True if something listens on (or holds) TCP `port` so that we cannot bind it.
bool PortInUse(int port);

}  // namespace topos::agent
