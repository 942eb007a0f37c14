// The fleet's certificates as one list, whatever table each lives in:
// identities, operators and the controller's own (the certificates table)
// and service certificates (issued, pending or denied requests). Pure: the
// caller reads the store and passes the published pools.
//
// States: pending and denied come from the request; a certificate is
// revoked once revoked (even after it expired), else expired once past its
// not-after, else issued.
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "controller/store/store.h"
#include "topos/v1/admin.pb.h"

namespace topos::controller {

std::vector<v1::CertificateInventoryItem> BuildCertificateInventory(
    const std::vector<CertificateRecord>& certificates,
    const std::vector<CertificateRequestRecord>& requests, TimePoint now);

// Applies the filters of `request` (expiring within: only issued
// certificates whose not-after is before now + that; host; pool: hosts of
// `pool_hosts`) and sorts soonest expiry first (never-issued requests
// last), then by serial. InvalidArgument for a negative window or a pool
// `pool_hosts` does not know (naming the known pools).
Result<std::vector<v1::CertificateInventoryItem>> FilterCertificateInventory(
    std::vector<v1::CertificateInventoryItem> items, const v1::ListCertificatesRequest& request,
    const std::map<std::string, std::set<std::string>>& pool_hosts, TimePoint now);

}  // namespace topos::controller
