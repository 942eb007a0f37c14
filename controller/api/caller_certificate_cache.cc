#include "controller/api/caller_certificate_cache.h"

#include <utility>

#include "certs/certificate_fields.h"
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
  // The TLS layer has verified this certificate; only its fields are read.
  auto read = certs::ReadCertificateFields(pem);
  if (!read.ok()) return Status::InvalidArgument(read.status().message());
  CallerCertificate fields{std::move(read->common_name), std::move(read->organizational_unit),
                           std::move(read->serial_hex), read->not_after};
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
