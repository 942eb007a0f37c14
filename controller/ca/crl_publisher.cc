#include "controller/ca/crl_publisher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "certs/crl.h"
#include "common/file_io.h"
#include "common/text.h"

namespace topos::controller {

CrlPublisher::CrlPublisher(Store& store, const certs::CertificateAuthority& ca,
                           std::filesystem::path crl_file, Clock clock,
                           std::chrono::milliseconds check_interval)
    : CrlPublisher(
          store,
          // Not owned: the caller keeps `ca` alive (an aliasing pointer).
          [&ca] { return std::shared_ptr<const certs::CertificateAuthority>(
                      std::shared_ptr<const certs::CertificateAuthority>(), &ca); },
          [] { return std::shared_ptr<const certs::CertificateAuthority>(); },
          std::move(crl_file), std::move(clock), check_interval) {}

CrlPublisher::CrlPublisher(Store& store, CaSource signing, CaSource previous,
                           std::filesystem::path crl_file, Clock clock,
                           std::chrono::milliseconds check_interval)
    : store_(store),
      signing_(std::move(signing)),
      previous_(std::move(previous)),
      crl_file_(std::move(crl_file)),
      clock_(std::move(clock)),
      check_interval_(check_interval) {
  Load();
}

CrlPublisher::~CrlPublisher() { Stop(); }

void CrlPublisher::Load() {
  std::error_code ec;
  if (!std::filesystem::exists(crl_file_, ec)) return;
  Result<std::string> pem = ReadFile(crl_file_, certs::kMaxCrlPemBytes);
  Status verified = pem.ok() ? certs::VerifyCrl(*pem, signing_()->certificate()) : pem.status();
  Result<certs::CrlInfo> info =
      verified.ok() ? certs::ParseCrl(*pem) : Result<certs::CrlInfo>(verified);
  if (!info.ok()) {
    spdlog::warn("ignoring CRL file {} ({}); a new CRL replaces it", crl_file_.string(),
                 info.status().message());
    return;
  }
  std::vector<std::string> serials;
  for (const auto& entry : info->revoked) serials.push_back(entry.serial_hex);
  std::sort(serials.begin(), serials.end());
  std::lock_guard lock(mutex_);
  current_ = {*pem, *pem, info->this_update, info->next_update, info->number,
              info->revoked.size()};
  current_serials_ = std::move(serials);
}

Status CrlPublisher::RefreshIfStale(TimePoint now, bool* signed_now) {
  if (signed_now != nullptr) *signed_now = false;
  if (!DueForResign(now) && previous_() == nullptr) {
    auto serials = store_.ListRevokedSerials();
    if (!serials.ok()) return serials.status().WithContext("listing revoked certificates for the CRL");
    std::sort(serials->begin(), serials->end());
    std::lock_guard lock(mutex_);
    if (*serials == current_serials_) return Status::Ok();
  }
  if (signed_now != nullptr) *signed_now = true;
  return Refresh(now);
}

Status CrlPublisher::Refresh(TimePoint now) {
  std::lock_guard refresh_lock(refresh_mutex_);
  auto serials = store_.ListRevokedSerials();
  if (!serials.ok()) return serials.status().WithContext("listing revoked certificates for the CRL");
  // Revocation times live with the records: certificates and issued
  // service certificate requests.
  std::map<std::string, TimePoint> revoked_at;
  auto certificates = store_.ListCertificates();
  if (!certificates.ok()) return certificates.status().WithContext("listing certificates for the CRL");
  for (const auto& certificate : *certificates) {
    if (certificate.revoked_at) revoked_at[certificate.serial] = *certificate.revoked_at;
  }
  auto requests = store_.ListCertificateRequests(false, "");
  if (!requests.ok()) return requests.status().WithContext("listing service certificates for the CRL");
  for (const auto& request : *requests) {
    if (request.revoked_at && !request.serial.empty()) {
      revoked_at[request.serial] = *request.revoked_at;
    }
  }
  std::vector<std::string> signed_serials = *serials;
  std::sort(signed_serials.begin(), signed_serials.end());
  std::vector<certs::RevokedEntry> entries;
  entries.reserve(serials->size());
  for (const auto& serial : *serials) {
    auto found = revoked_at.find(serial);
    entries.push_back({serial, found == revoked_at.end() ? now : found->second});
  }

  PublishedCrl next;
  next.this_update = now - kCrlClockSkew;
  next.next_update = now + kCrlValidity;
  next.number = Current().number + 1;
  next.entries = entries.size();
  const auto signing = signing_();
  auto pem = certs::SignCrl(*signing, entries, next.this_update, next.next_update, next.number);
  if (!pem.ok()) return pem.status().WithContext("signing the CRL");
  next.pem = std::move(pem).value();
  next.trust_pem = next.pem;
  if (const auto previous = previous_()) {
    auto old = certs::SignCrl(*previous, entries, next.this_update, next.next_update, next.number);
    if (!old.ok()) return old.status().WithContext("signing the CRL with the previous CA");
    next.trust_pem += *old;
  }
  TOPOS_RETURN_IF_ERROR(WriteFileAtomically(crl_file_, next.pem, 0644)
                            .WithContext("writing the CRL to " + crl_file_.string()));
  std::function<void(const PublishedCrl&)> listener;
  {
    std::lock_guard lock(mutex_);
    current_ = next;
    current_serials_ = std::move(signed_serials);
    listener = listener_;
  }
  if (listener) listener(next);
  return Status::Ok();
}

void CrlPublisher::SetListener(std::function<void(const PublishedCrl&)> listener) {
  std::lock_guard lock(mutex_);
  listener_ = std::move(listener);
}

PublishedCrl CrlPublisher::Current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

bool CrlPublisher::DueForResign(TimePoint now) const {
  std::lock_guard lock(mutex_);
  if (current_.pem.empty()) return true;
  return current_.next_update - now < kCrlValidity / 2;
}

void CrlPublisher::Start() {
  std::lock_guard lock(thread_mutex_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void CrlPublisher::Stop() {
  {
    std::lock_guard lock(thread_mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CrlPublisher::Run() {
  std::unique_lock lock(thread_mutex_);
  while (!stop_) {
    lock.unlock();
    const TimePoint now = clock_();
    if (DueForResign(now)) {
      Status status = Refresh(now);
      if (status.ok()) {
        const PublishedCrl crl = Current();
        spdlog::info("CRL {} re-signed: {} revoked certificate(s), next update {}", crl.number,
                     crl.entries, FormatExpiry(crl.next_update, now));
      } else {
        spdlog::error("CRL re-signing failed (retrying in {} ms): {}", check_interval_.count(),
                      status.message());
      }
    }
    lock.lock();
    wake_.wait_for(lock, check_interval_, [this] { return stop_; });
  }
}

}  // namespace topos::controller
