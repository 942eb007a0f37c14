// What this host trusts, as the controller pushes it (TrustUpdate): the CA
// bundle (one CA, two during a CA rotation) and the CA's CRL.
//
//   STATE_DIR/identity/ca.pem            the bundle the link verifies the
//                                        controller with on its next channel
//   STATE_DIR/store/trust/ca-bundle.pem  the same bundle, for services that
//                                        check their own clients
//   STATE_DIR/store/trust/crl.pem        the CRL (empty: none yet)
//   STATE_DIR/store/trust/generation     hex SHA-256 of bundle + CRL
//
// Apply() checks the whole update before writing anything, writes each file
// atomically (0644: nothing here is secret; the trust directory is 0700 like
// the store), and writes the generation last: after a crash part-way the
// old generation remains, so the controller sends the update again.
//
// Thread-safety: not thread-safe; one owner (the link thread).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "common/status.h"

namespace topos::v1 {
class TrustUpdate;
}

namespace topos::agent {

inline constexpr std::size_t kMaxTrustBundleBytes = 64 * 1024;
inline constexpr std::size_t kMaxTrustCrlBytes = 4 * 1024 * 1024;

// Lowercase hex SHA-256 of `ca_bundle_pem` + `crl_pem`.
std::string TrustGenerationOf(const std::string& ca_bundle_pem, const std::string& crl_pem);

class TrustFiles {
 public:
  explicit TrustFiles(std::filesystem::path state_dir) : state_dir_(std::move(state_dir)) {}

  // InvalidArgument naming what is wrong: the bundle is empty, over 64 KiB,
  // does not parse or holds a certificate that is not a CA; the CRL is over
  // 4 MiB or does not parse; the generation is not the hash of the two.
  static Status Validate(const topos::v1::TrustUpdate& update);

  // Validates, then writes the four files. Nothing is written when
  // validation fails; Internal if a write fails.
  Status Apply(const topos::v1::TrustUpdate& update) const;

  // The generation held; "" when none was ever applied.
  std::string Generation() const;

  std::filesystem::path identity_bundle_path() const { return state_dir_ / "identity" / "ca.pem"; }
  std::filesystem::path trust_dir() const { return state_dir_ / "store" / "trust"; }
  std::filesystem::path bundle_path() const { return trust_dir() / "ca-bundle.pem"; }
  std::filesystem::path crl_path() const { return trust_dir() / "crl.pem"; }
  std::filesystem::path generation_path() const { return trust_dir() / "generation"; }

 private:
  std::filesystem::path state_dir_;
};

}  // namespace topos::agent
