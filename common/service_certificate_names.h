// The DNS names a service's certificate carries, agreed by the agent that
// requests it, the controller's planner that checks it, and the simulated
// agents: the host, the FQDNs of the pools the host is a member of, then
// the service's extra names from its certificate binding; in that order,
// without repeats. Pure.
#pragma once

#include <string>
#include <vector>

#include "topos/v1/topology.pb.h"

namespace topos {

// `host_fqdn` is the host the certificate is for (the slice's host).
std::vector<std::string> ServiceCertificateNames(const v1::HostConfig& slice,
                                                 const v1::Service& service,
                                                 const std::string& host_fqdn);

}  // namespace topos
