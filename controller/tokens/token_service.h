// Bootstrap tokens: random, single-use, expiring, bound to one host, stored
// only as a hash.
//
// A token reads "<id>.<secret>": the id (8 random bytes, hex) is public and
// names the token in lists; the secret (32 random bytes, hex: 256 bits) is
// shown once and only its SHA-256 is stored. Checking looks the record up by
// id and compares hashes in constant time.
//
// Thread-safety: safe to call from several threads (the Store is).
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"
#include "controller/store/store.h"

namespace topos::controller {

inline constexpr std::chrono::seconds kDefaultTokenTtl{3600};
inline constexpr std::chrono::seconds kMinTokenTtl{60};
inline constexpr std::chrono::seconds kMaxTokenTtl{7 * 24 * 3600};

struct IssuedToken {
  std::string token;  // the full "<id>.<secret>", to show once
  TokenRecord record;
};

class TokenService {
 public:
  explicit TokenService(Store& store) : store_(store) {}

  // InvalidArgument for a bad host name or a TTL outside 60 s .. 7 days.
  Result<IssuedToken> Create(const std::string& host_fqdn, std::chrono::seconds ttl,
                             const std::string& created_by, TimePoint now);

  // Checks that `token` is well formed, known, unrevoked, unused, unexpired
  // and bound to `host_fqdn`. Errors are Unauthenticated or PermissionDenied
  // with a message that says which check failed. Does not consume the token:
  // Store::CompleteEnrollment does that atomically with the enrollment.
  Result<TokenRecord> Check(const std::string& token, const std::string& host_fqdn,
                            TimePoint now);

  // "unused", "used", "expired" or "revoked".
  static std::string StateOf(const TokenRecord& record, TimePoint now);

 private:
  Store& store_;
};

}  // namespace topos::controller
