#include "controller/hub/host_status.h"

namespace topos::controller {

HostStatus ComputeHostStatus(bool removed, bool connected,
                             std::optional<std::chrono::system_clock::time_point> last_seen,
                             std::chrono::seconds heartbeat_interval,
                             std::chrono::system_clock::time_point now) {
  if (removed) return HostStatus::kRemoved;
  if (!last_seen) return HostStatus::kNeverSeen;
  if (!connected) return HostStatus::kOffline;
  if (now - *last_seen > kMissedHeartbeatsForOffline * heartbeat_interval) {
    return HostStatus::kOffline;
  }
  return HostStatus::kOnline;
}

std::string HostStatusName(HostStatus status) {
  switch (status) {
    case HostStatus::kOnline: return "online";
    case HostStatus::kOffline: return "offline";
    case HostStatus::kNeverSeen: return "never seen";
    case HostStatus::kRemoved: return "removed";
  }
  return "unknown";
}

}  // namespace topos::controller
