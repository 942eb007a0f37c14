// Reconnect delays: exponential back-off with full jitter (AWS's
// "Exponential Backoff And Jitter"), so ten thousand agents that lost the
// controller at once do not return at once.
#pragma once

#include <chrono>
#include <random>

namespace topos::agent {

inline constexpr std::chrono::milliseconds kBackoffBase{500};
inline constexpr std::chrono::milliseconds kBackoffCap{30'000};
// The longest return window an agent accepts from a controller's Goodbye.
inline constexpr std::chrono::seconds kMaxSpreadWindow{600};

// The delay before retry number `attempt` (0-based): uniform in
// [0, min(cap, base * 2^attempt)].
std::chrono::milliseconds BackoffDelay(int attempt, std::mt19937_64& random,
                                       std::chrono::milliseconds base = kBackoffBase,
                                       std::chrono::milliseconds cap = kBackoffCap);

// When a link tries again. Normally BackoffDelay over its consecutive
// failures. A controller that shuts down says in its Goodbye over how many
// seconds its agents should spread their return (its connected agents over
// the handshakes per second it can take): the first attempt then falls
// uniformly in that window, and until a stream is accepted again later
// attempts back off no further than the window. So a restart brings the
// fleet back at the rate the controller can take, and no agent sits out a
// long back-off after the controller is up again.
//
// Thread-safety: none; owned by the link's loop.
class ReconnectSchedule {
 public:
  explicit ReconnectSchedule(std::mt19937_64::result_type seed) : random_(seed) {}

  // A stream was accepted: the next delay starts from the base again.
  void Accepted();
  // The controller said goodbye with a return window (retry_after_seconds;
  // clamped to kMaxSpreadWindow). 0 is ignored.
  void SpreadOver(std::chrono::seconds window);
  // The delay before the next attempt; each call counts one more failure.
  std::chrono::milliseconds NextDelay();

 private:
  std::mt19937_64 random_;
  int failures_ = 0;
  std::chrono::milliseconds cap_ = kBackoffCap;
  bool spread_pending_ = false;
};

}  // namespace topos::agent
