// Which DNS names the published topology grants a host's service
// certificate. A request naming only granted names is issued at once; any
// other name makes it wait for an operator (`toposctl certs approve`).
//
// Granted: the host's FQDN; the FQDN of every pool the host is a member of;
// and the service's extra `certificate.names` that equal, or lie under, one
// of those (e.g. chat.pool.example.com under pool.example.com). Anything
// else, such as a public name like meet.example.com, needs approval.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "topos/v1/topology.pb.h"

namespace topos::controller {

struct CertificateGrant {
  std::vector<std::string> granted;    // names the topology grants
  std::vector<std::string> ungranted;  // requested names it does not
};

// NotFound if the topology does not assign `service` to a role the host's
// pools carry ("service X does not run on host Y in topology version N").
Result<CertificateGrant> EvaluateGrant(const v1::Topology& topology, const std::string& host_fqdn,
                                       const std::string& service,
                                       const std::vector<std::string>& requested);

}  // namespace topos::controller
