#include "agent/link/backoff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace topos::agent {
namespace {

TEST(BackoffDelay, GrowsExponentiallyUpToTheCap) {
  std::mt19937_64 random(42);
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto ceiling = std::min<long long>(500LL << std::min(attempt, 20), 30'000);
    for (int i = 0; i < 200; ++i) {
      auto delay = BackoffDelay(attempt, random);
      EXPECT_GE(delay.count(), 0);
      EXPECT_LE(delay.count(), ceiling) << "attempt " << attempt;
    }
  }
}

TEST(BackoffDelay, JittersAcrossTheWholeRange) {
  // Full jitter: agents that failed together spread over [0, cap].
  std::mt19937_64 random(7);
  long long low = 30'000, high = 0;
  for (int i = 0; i < 2000; ++i) {
    long long delay = BackoffDelay(10, random).count();
    low = std::min(low, delay);
    high = std::max(high, delay);
  }
  EXPECT_LT(low, 3'000);
  EXPECT_GT(high, 27'000);
}

TEST(ReconnectSchedule, StartsFromTheBaseAfterAnAcceptedStream) {
  ReconnectSchedule schedule(1);
  for (int i = 0; i < 8; ++i) schedule.NextDelay();  // far into the back-off
  schedule.Accepted();
  for (int i = 0; i < 50; ++i) {
    schedule.Accepted();
    EXPECT_LE(schedule.NextDelay(), kBackoffBase);
  }
}

TEST(ReconnectSchedule, SpreadsTheFirstReturnOverTheControllersWindow) {
  // 2,000 agents told "come back within 10 s" land all over those 10 s.
  std::vector<int> per_second(10, 0);
  for (int agent = 0; agent < 2000; ++agent) {
    ReconnectSchedule schedule(agent);
    schedule.Accepted();
    schedule.SpreadOver(std::chrono::seconds(10));
    auto delay = schedule.NextDelay();
    ASSERT_GE(delay.count(), 0);
    ASSERT_LE(delay, std::chrono::seconds(10));
    ++per_second[std::min<long long>(delay.count() / 1000, 9)];
  }
  for (int second = 0; second < 10; ++second) {
    EXPECT_GT(per_second[second], 120) << "second " << second;  // 200 expected
    EXPECT_LT(per_second[second], 280) << "second " << second;
  }
}

TEST(ReconnectSchedule, BacksOffNoFurtherThanTheWindowUntilAccepted) {
  // The controller is down for longer than its window: agents keep trying
  // at most a window apart, so they are back within a window of its return.
  ReconnectSchedule schedule(3);
  schedule.SpreadOver(std::chrono::seconds(2));
  for (int attempt = 0; attempt < 40; ++attempt) {
    EXPECT_LE(schedule.NextDelay(), std::chrono::seconds(2)) << "attempt " << attempt;
  }
  schedule.Accepted();  // back to the normal cap afterwards
  std::chrono::milliseconds longest{0};
  for (int attempt = 0; attempt < 40; ++attempt) longest = std::max(longest, schedule.NextDelay());
  EXPECT_GT(longest, std::chrono::seconds(2));
  EXPECT_LE(longest, kBackoffCap);
}

TEST(ReconnectSchedule, IgnoresAZeroWindowAndClampsAHugeOne) {
  ReconnectSchedule schedule(4);
  schedule.SpreadOver(std::chrono::seconds(0));
  EXPECT_LE(schedule.NextDelay(), kBackoffBase);  // plain back-off, attempt 0
  schedule.SpreadOver(std::chrono::seconds(1'000'000));
  for (int attempt = 0; attempt < 40; ++attempt) {
    EXPECT_LE(schedule.NextDelay(), kMaxSpreadWindow) << "attempt " << attempt;
  }
}

}  // namespace
}  // namespace topos::agent
