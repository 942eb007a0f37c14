// Reconnect delays: exponential back-off with full jitter (AWS's
// "Exponential Backoff And Jitter"), so ten thousand agents that lost the
// controller at once do not return at once.
#pragma once

#include <chrono>
#include <random>

namespace topos::agent {

inline constexpr std::chrono::milliseconds kBackoffBase{500};
inline constexpr std::chrono::milliseconds kBackoffCap{30'000};

// The delay before retry number `attempt` (0-based): uniform in
// [0, min(cap, base * 2^attempt)].
std::chrono::milliseconds BackoffDelay(int attempt, std::mt19937_64& random,
                                       std::chrono::milliseconds base = kBackoffBase,
                                       std::chrono::milliseconds cap = kBackoffCap);

}  // namespace topos::agent
