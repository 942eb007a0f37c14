#include "agent/link/backoff.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace topos::agent
