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

}  // namespace topos::agent
