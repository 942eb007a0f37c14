#include "agent/link/backoff.h"

#include <algorithm>

namespace topos::agent {

std::chrono::milliseconds BackoffDelay(int attempt, std::mt19937_64& random,
                                       std::chrono::milliseconds base,
                                       std::chrono::milliseconds cap) {
  long long ceiling = base.count();
  for (int i = 0; i < attempt && ceiling < cap.count(); ++i) ceiling *= 2;
  ceiling = std::min(ceiling, static_cast<long long>(cap.count()));
  std::uniform_int_distribution<long long> pick(0, ceiling);
  return std::chrono::milliseconds(pick(random));
}

void ReconnectSchedule::Accepted() {
  failures_ = 0;
  cap_ = kBackoffCap;
  spread_pending_ = false;
}

void ReconnectSchedule::SpreadOver(std::chrono::seconds window) {
  if (window.count() <= 0) return;
  cap_ = std::min<std::chrono::milliseconds>(window, kMaxSpreadWindow);
  spread_pending_ = true;
}

std::chrono::milliseconds ReconnectSchedule::NextDelay() {
  if (spread_pending_) {
    spread_pending_ = false;
    std::uniform_int_distribution<long long> pick(0, cap_.count());
    return std::chrono::milliseconds(pick(random_));
  }
  return BackoffDelay(failures_++, random_, kBackoffBase, cap_);
}

}  // namespace topos::agent
