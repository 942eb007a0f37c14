// Enrollment: turn a bootstrap token into this host's identity.
//
// 1. Fetch the CA bundle over TLS without trusting it, and check its SHA-256
//    against the pinned fingerprint from the enroll command.
// 2. Generate the key here (it never leaves the host) and a CSR for the FQDN.
// 3. Send token + CSR over TLS verified against that CA.
// 4. Check the certificate matches the key and chains to the CA, then save.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "certs/private_key.h"
#include "common/status.h"

namespace topos::agent {

struct EnrollOptions {
  std::string controller;   // HOST:PORT
  std::string token;
  std::string ca_sha256;    // 64 hex digits; colons and upper case accepted
  std::string host_fqdn;    // empty: this machine's host name
  std::filesystem::path state_dir;
  certs::KeyType key_type = certs::KeyType::kEcdsaP256;
  std::chrono::seconds timeout{15};
};

// Errors name the failing step: a bad flag, an unreachable controller, a
// fingerprint mismatch, a refused token, or a state directory already in use.
Status Enroll(const EnrollOptions& options);

// Lower-cases and strips colons; InvalidArgument unless 64 hex digits remain.
Result<std::string> NormalizeFingerprint(const std::string& text);

}  // namespace topos::agent
