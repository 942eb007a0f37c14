// Whether a host is online: a pure function of what the hub knows and the
// time, so it is tested without a network.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace topos::controller {

enum class HostStatus { kOnline, kOffline, kNeverSeen, kRemoved };

// Missed heartbeats after which a connected host counts as offline.
inline constexpr int kMissedHeartbeatsForOffline = 3;

// A host is online while its stream is open and its last message is no older
// than three heartbeat intervals; removed hosts are "removed" whatever else.
HostStatus ComputeHostStatus(bool removed, bool connected,
                             std::optional<std::chrono::system_clock::time_point> last_seen,
                             std::chrono::seconds heartbeat_interval,
                             std::chrono::system_clock::time_point now);

std::string HostStatusName(HostStatus status);

}  // namespace topos::controller
