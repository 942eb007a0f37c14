// Service certificate requests from agents: issued at once when the
// published topology grants every name (see service_certificate_policy.h),
// otherwise kept Pending until an operator approves or denies them. Every
// request and decision is persisted before it is answered.
//
// Thread-safety: safe from several threads (the Store and issuer are).
#pragma once

#include <chrono>
#include <string>

#include "certs/csr.h"
#include "common/status.h"
#include "controller/ca/certificate_issuer.h"
#include "controller/replication/replicator.h"
#include "controller/store/store.h"

namespace topos::controller {

inline constexpr std::size_t kMaxServiceCsrBytes = 16 * 1024;

class ServiceCertificates {
 public:
  ServiceCertificates(Store& store, const CertificateIssuer& issuer, const Replicator& replicator)
      : store_(store), issuer_(issuer), replicator_(replicator) {}

  // A new request from `host_fqdn` (the caller's verified identity).
  // InvalidArgument for a bad CSR or one whose CN is not the host;
  // NotFound if the service does not run on the host. A request identical
  // to one still pending (same host, service, names) returns that one.
  Result<CertificateRequestRecord> Request(const std::string& host_fqdn, const std::string& service,
                                           const std::string& csr_pem,
                                           std::chrono::system_clock::time_point now);
  // An earlier request of `host_fqdn`; NotFound if unknown or another host's.
  Result<CertificateRequestRecord> Poll(const std::string& host_fqdn, const std::string& id);
  // Approves (issues) or denies a pending request. FailedPrecondition if it
  // was decided already.
  Result<CertificateRequestRecord> Decide(const std::string& id, bool approve,
                                          const std::string& reason, const std::string& operator_name,
                                          std::chrono::system_clock::time_point now);

 private:
  // Signs `csr` (parsed from request.csr_pem by the caller: parsing is a
  // large share of a request's cost) and records the outcome in `request`.
  Status Issue(CertificateRequestRecord& request, const certs::Csr& csr,
               const std::vector<std::string>& allowed, const std::string& decided_by,
               std::chrono::system_clock::time_point now);

  Store& store_;
  const CertificateIssuer& issuer_;
  const Replicator& replicator_;
};

}  // namespace topos::controller
