// The controller's CAs on disk (DIR/ca), as a CA rotation moves them:
//
//   ca.pem, ca.key           the CA that signs now (same meaning as before
//                            rotations existed, so old data dirs load)
//   next.pem, next.key       the new CA, trusted but not yet signing (phase 1)
//   previous.pem, .key       the old CA, still trusted, no longer signing
//                            (phases 2 and 3)
//   bundle.pem               what every party trusts: the signing CA first,
//                            then next or previous; derived from the above
//
// Each step writes its files through temp+rename in an order such that a
// crash between any two writes is recognised by Load(), which finishes or
// undoes the half-done step:
//   - a .key without its .pem is a leftover of an unfinished write: removed
//     (a .pem is always written after its key and removed before it);
//   - next and previous both present is an interrupted PromoteNext: Load
//     completes it (ca.* := next.*, next.* removed);
//   - bundle.pem is rewritten whenever it differs from what the CAs imply.
// Every step is idempotent: repeating a finished step does nothing.
// Private keys are written with mode 0600.
//
// Thread-safety: every method is safe from any thread; steps are
// serialized; accessors return snapshots (a CA stays alive while a caller
// holds its shared_ptr even if a step replaces it).
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "certs/certificate_authority.h"
#include "common/status.h"

namespace topos::controller {

class CaKeyring {
 public:
  // Loads (and repairs, see above) the keyring in `ca_dir`. Errors name the
  // missing or broken file.
  static Result<std::unique_ptr<CaKeyring>> Load(const std::filesystem::path& ca_dir);

  // Phase 1: creates the new CA (next.*) with subject `common_name` unless
  // one exists already; the bundle becomes signing + next.
  // FailedPrecondition while a previous CA is still trusted (an unfinished
  // rotation must retire it first).
  Status PrepareNext(const std::string& common_name,
                     certs::KeyType key_type = certs::KeyType::kEcdsaP256);
  // Phase 2: the new CA signs from now on; the old one becomes previous.
  // The bundle keeps both (the new one first). OK if already promoted;
  // FailedPrecondition when no new CA was prepared.
  Status PromoteNext();
  // Phase 3: the previous CA leaves the bundle and the disk. OK if none.
  Status RetirePrevious();

  std::shared_ptr<const certs::CertificateAuthority> signing() const;
  std::optional<certs::Certificate> next() const;
  std::optional<certs::Certificate> previous() const;
  // The previous CA with its key (CRLs for what it issued); null if none.
  std::shared_ptr<const certs::CertificateAuthority> previous_ca() const;
  // Every CA trusted now, signing first, as PEM (the content of bundle.pem).
  std::string BundlePem() const;
  std::vector<certs::Certificate> Trusted() const;
  std::vector<std::string> TrustedFingerprints() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  explicit CaKeyring(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path Path(const char* name) const { return dir_ / name; }
  std::string BundlePemLocked() const;
  Status WriteBundleLocked();

  const std::filesystem::path dir_;
  mutable std::mutex mutex_;  // guards the members below and serializes steps
  std::shared_ptr<const certs::CertificateAuthority> signing_;
  std::shared_ptr<const certs::CertificateAuthority> next_;      // null: none
  std::shared_ptr<const certs::CertificateAuthority> previous_;  // null: none
};

// SHA-256 of a certificate as "ab:cd:...", the form the CLI shows.
std::string ColonFingerprint(const certs::Certificate& certificate);

}  // namespace topos::controller
