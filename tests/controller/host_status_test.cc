#include "controller/hub/host_status.h"

#include <gtest/gtest.h>

namespace topos::controller {
namespace {

using std::chrono::seconds;

TEST(ComputeHostStatus, OnlineWhileHeartbeatsArrive) {
  auto now = std::chrono::system_clock::now();
  EXPECT_EQ(ComputeHostStatus(false, true, now - seconds(25), seconds(10), now),
            HostStatus::kOnline);
}

TEST(ComputeHostStatus, OfflineAfterThreeMissedHeartbeats) {
  auto now = std::chrono::system_clock::now();
  EXPECT_EQ(ComputeHostStatus(false, true, now - seconds(30), seconds(10), now),
            HostStatus::kOnline);
  EXPECT_EQ(ComputeHostStatus(false, true, now - seconds(31), seconds(10), now),
            HostStatus::kOffline);
}

TEST(ComputeHostStatus, OfflineOnceTheStreamEnds) {
  auto now = std::chrono::system_clock::now();
  EXPECT_EQ(ComputeHostStatus(false, false, now, seconds(10), now), HostStatus::kOffline);
}

TEST(ComputeHostStatus, NeverSeenAndRemoved) {
  auto now = std::chrono::system_clock::now();
  EXPECT_EQ(ComputeHostStatus(false, false, std::nullopt, seconds(10), now),
            HostStatus::kNeverSeen);
  EXPECT_EQ(ComputeHostStatus(true, true, now, seconds(10), now), HostStatus::kRemoved);
  EXPECT_EQ(HostStatusName(HostStatus::kNeverSeen), "never seen");
}

}  // namespace
}  // namespace topos::controller
