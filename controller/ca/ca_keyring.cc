#include "controller/ca/ca_keyring.h"

#include <spdlog/spdlog.h>

#include <system_error>

#include "common/file_io.h"

namespace topos::controller {
namespace {

namespace fs = std::filesystem;
using CaPtr = std::shared_ptr<const certs::CertificateAuthority>;

constexpr char kCaPem[] = "ca.pem";
constexpr char kCaKey[] = "ca.key";
constexpr char kNextPem[] = "next.pem";
constexpr char kNextKey[] = "next.key";
constexpr char kPreviousPem[] = "previous.pem";
constexpr char kPreviousKey[] = "previous.key";
constexpr char kBundle[] = "bundle.pem";

bool Exists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

Status Remove(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) return Status::Internal("removing " + path.string() + ": " + ec.message());
  return Status::Ok();
}

Result<CaPtr> LoadPair(const fs::path& pem_path, const fs::path& key_path) {
  auto pem = ReadFile(pem_path);
  if (!pem.ok()) return pem.status().WithContext(pem_path.string());
  auto key = ReadFile(key_path);
  if (!key.ok()) return key.status().WithContext(key_path.string());
  auto ca = certs::CertificateAuthority::Load(*pem, *key);
  if (!ca.ok()) {
    return ca.status().WithContext(pem_path.string() + " with " + key_path.filename().string());
  }
  return CaPtr(std::make_shared<const certs::CertificateAuthority>(std::move(ca).value()));
}

// Writes the key first, the certificate last: a certificate on disk always
// has its key beside it.
Status WritePair(const certs::CertificateAuthority& ca, const fs::path& pem_path,
                 const fs::path& key_path) {
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(key_path, ca.key().ToPem(), 0600));
  return WriteFileAtomically(pem_path, ca.certificate().ToPem(), 0644);
}

// Removes the certificate first, the key last (the reverse of WritePair).
Status RemovePair(const fs::path& pem_path, const fs::path& key_path) {
  TOPOS_RETURN_IF_ERROR(Remove(pem_path));
  return Remove(key_path);
}

// A key without its certificate is what an interrupted WritePair or
// RemovePair leaves: never in use, so removed.
Status RemoveOrphanKey(const fs::path& pem_path, const fs::path& key_path) {
  if (Exists(pem_path) || !Exists(key_path)) return Status::Ok();
  spdlog::warn("removing {}: its certificate {} is missing (an interrupted CA step)",
               key_path.string(), pem_path.filename().string());
  return Remove(key_path);
}

}  // namespace

std::string ColonFingerprint(const certs::Certificate& certificate) {
  const std::string hex = certificate.Sha256Fingerprint();
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    if (!out.empty()) out += ':';
    out += hex.substr(i, 2);
  }
  return out;
}

Result<std::unique_ptr<CaKeyring>> CaKeyring::Load(const fs::path& ca_dir) {
  std::unique_ptr<CaKeyring> keyring(new CaKeyring(ca_dir));
  CaKeyring& k = *keyring;
  TOPOS_RETURN_IF_ERROR(RemoveOrphanKey(k.Path(kNextPem), k.Path(kNextKey)));
  TOPOS_RETURN_IF_ERROR(RemoveOrphanKey(k.Path(kPreviousPem), k.Path(kPreviousKey)));

  const bool has_next = Exists(k.Path(kNextPem));
  const bool has_previous = Exists(k.Path(kPreviousPem));
  if (has_next && has_previous) {
    // An interrupted PromoteNext: previous.* is complete (written before
    // ca.* was touched), so finish moving next.* into ca.*.
    auto next = LoadPair(k.Path(kNextPem), k.Path(kNextKey));
    if (!next.ok()) return next.status();
    auto previous = LoadPair(k.Path(kPreviousPem), k.Path(kPreviousKey));
    if (!previous.ok()) return previous.status();
    spdlog::warn("completing an interrupted CA promotion in {}", ca_dir.string());
    TOPOS_RETURN_IF_ERROR(WritePair(**next, k.Path(kCaPem), k.Path(kCaKey)));
    TOPOS_RETURN_IF_ERROR(RemovePair(k.Path(kNextPem), k.Path(kNextKey)));
  }

  auto signing = LoadPair(k.Path(kCaPem), k.Path(kCaKey));
  if (!signing.ok()) return signing.status();
  k.signing_ = *signing;
  if (Exists(k.Path(kNextPem))) {
    auto next = LoadPair(k.Path(kNextPem), k.Path(kNextKey));
    if (!next.ok()) return next.status();
    k.next_ = *next;
  }
  if (Exists(k.Path(kPreviousPem))) {
    auto previous = LoadPair(k.Path(kPreviousPem), k.Path(kPreviousKey));
    if (!previous.ok()) return previous.status();
    k.previous_ = *previous;
  }
  std::lock_guard lock(k.mutex_);
  auto on_disk = ReadFile(k.Path(kBundle));
  if (!on_disk.ok() || *on_disk != k.BundlePemLocked()) {
    TOPOS_RETURN_IF_ERROR(k.WriteBundleLocked());
  }
  return keyring;
}

Status CaKeyring::PrepareNext(const std::string& common_name, certs::KeyType key_type) {
  std::lock_guard lock(mutex_);
  if (previous_) {
    return Status::FailedPrecondition(
        "the previous CA " + previous_->certificate().common_name() +
        " is still trusted; finish the rotation under way (retire it) before preparing another");
  }
  if (!next_) {
    auto created = certs::CertificateAuthority::Create(common_name, key_type);
    if (!created.ok()) return created.status().WithContext("creating the new CA");
    TOPOS_RETURN_IF_ERROR(WritePair(*created, Path(kNextPem), Path(kNextKey))
                              .WithContext("writing the new CA"));
    next_ = std::make_shared<const certs::CertificateAuthority>(std::move(created).value());
  }
  return WriteBundleLocked();
}

Status CaKeyring::PromoteNext() {
  std::lock_guard lock(mutex_);
  if (!next_) {
    if (previous_) return Status::Ok();  // promoted already
    return Status::FailedPrecondition("no new CA is prepared (DIR/ca/next.pem is missing)");
  }
  // previous.* first (complete before ca.* changes), then ca.*, then next.*
  // goes; Load() finishes this from any point in between.
  TOPOS_RETURN_IF_ERROR(WritePair(*signing_, Path(kPreviousPem), Path(kPreviousKey)));
  TOPOS_RETURN_IF_ERROR(WritePair(*next_, Path(kCaPem), Path(kCaKey)));
  TOPOS_RETURN_IF_ERROR(RemovePair(Path(kNextPem), Path(kNextKey)));
  previous_ = signing_;
  signing_ = next_;
  next_.reset();
  return WriteBundleLocked();
}

Status CaKeyring::RetirePrevious() {
  std::lock_guard lock(mutex_);
  if (!previous_ && !Exists(Path(kPreviousPem))) return WriteBundleLocked();
  TOPOS_RETURN_IF_ERROR(RemovePair(Path(kPreviousPem), Path(kPreviousKey)));
  previous_.reset();
  return WriteBundleLocked();
}

std::shared_ptr<const certs::CertificateAuthority> CaKeyring::signing() const {
  std::lock_guard lock(mutex_);
  return signing_;
}

std::optional<certs::Certificate> CaKeyring::next() const {
  std::lock_guard lock(mutex_);
  if (!next_) return std::nullopt;
  return next_->certificate();
}

std::optional<certs::Certificate> CaKeyring::previous() const {
  std::lock_guard lock(mutex_);
  if (!previous_) return std::nullopt;
  return previous_->certificate();
}

std::shared_ptr<const certs::CertificateAuthority> CaKeyring::previous_ca() const {
  std::lock_guard lock(mutex_);
  return previous_;
}

std::string CaKeyring::BundlePem() const {
  std::lock_guard lock(mutex_);
  return BundlePemLocked();
}

std::vector<certs::Certificate> CaKeyring::Trusted() const {
  std::lock_guard lock(mutex_);
  std::vector<certs::Certificate> trusted{signing_->certificate()};
  if (next_) trusted.push_back(next_->certificate());
  if (previous_) trusted.push_back(previous_->certificate());
  return trusted;
}

std::vector<std::string> CaKeyring::TrustedFingerprints() const {
  std::vector<std::string> fingerprints;
  for (const auto& certificate : Trusted()) fingerprints.push_back(ColonFingerprint(certificate));
  return fingerprints;
}

std::string CaKeyring::BundlePemLocked() const {
  std::string pem = signing_->certificate().ToPem();
  if (next_) pem += next_->certificate().ToPem();
  if (previous_) pem += previous_->certificate().ToPem();
  return pem;
}

Status CaKeyring::WriteBundleLocked() {
  return WriteFileAtomically(Path(kBundle), BundlePemLocked(), 0644)
      .WithContext("writing the trust bundle");
}

}  // namespace topos::controller
