#include "controller/api/caller_certificate_cache.h"

#include "certs/certificate.h"
#include "certs/crypto.h"

namespace topos::controller {

Result<CallerCertificate> CallerCertificateCache::Lookup(std::string_view pem) {
  std::string key = certs::Sha256Hex(pem);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto found = entries_.find(key); found != entries_.end()) return found->second;
  }
  // Parsed outside the lock: two threads that miss on the same certificate
  // both parse it, which is harmless, and no caller waits on another's parse.
  auto certificate = certs::Certificate::FromPem(pem);
  if (!certificate.ok()) return Status::InvalidArgument(certificate.status().message());
  CallerCertificate fields{certificate->common_name(), certificate->organizational_unit(),
                           certificate->serial_hex(), certificate->not_after()};
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() >= capacity_) entries_.clear();
  entries_.emplace(std::move(key), fields);
  return fields;
}

std::size_t CallerCertificateCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace topos::controller
