// The serials of revoked certificates, held in memory so that every call can
// be checked without touching the disk. Loaded from the Store at start-up;
// revocations add to it as they are stored.
//
// Thread-safety: safe from any thread (shared reads, exclusive writes).
#pragma once

#include <shared_mutex>
#include <string>
#include <unordered_set>
#include <vector>

namespace topos::controller {

class RevocationList {
 public:
  void Add(const std::vector<std::string>& serials) {
    std::unique_lock lock(mutex_);
    serials_.insert(serials.begin(), serials.end());
  }
  bool IsRevoked(const std::string& serial) const {
    std::shared_lock lock(mutex_);
    return serials_.count(serial) > 0;
  }

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_set<std::string> serials_;  // guarded by mutex_
};

}  // namespace topos::controller
