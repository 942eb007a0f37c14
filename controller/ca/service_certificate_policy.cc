#include "controller/ca/service_certificate_policy.h"

#include <algorithm>

namespace topos::controller {
namespace {

bool EqualOrUnder(const std::string& name, const std::string& domain) {
  if (domain.empty()) return false;
  if (name == domain) return true;
  return name.size() > domain.size() + 1 &&
         name.compare(name.size() - domain.size(), domain.size(), domain) == 0 &&
         name[name.size() - domain.size() - 1] == '.';
}

}  // namespace

Result<CertificateGrant> EvaluateGrant(const v1::Topology& topology, const std::string& host_fqdn,
                                       const std::string& service,
                                       const std::vector<std::string>& requested) {
  std::vector<std::string> domains{host_fqdn};
  std::vector<std::string> roles;
  for (const auto& pool : topology.pools()) {
    if (std::find(pool.hosts().begin(), pool.hosts().end(), host_fqdn) == pool.hosts().end()) {
      continue;
    }
    domains.push_back(pool.fqdn());
    roles.push_back(pool.role());
  }
  const v1::Service* manifest = nullptr;
  for (const auto& candidate : topology.services()) {
    if (candidate.name() == service &&
        std::find(roles.begin(), roles.end(), candidate.role()) != roles.end()) {
      manifest = &candidate;
    }
  }
  if (manifest == nullptr) {
    return Status::NotFound("service \"" + service + "\" does not run on host \"" + host_fqdn +
                            "\" in the published topology");
  }
  CertificateGrant grant;
  grant.granted = domains;
  for (const auto& extra : manifest->certificate().names()) {
    bool under = std::any_of(domains.begin(), domains.end(),
                             [&](const std::string& domain) { return EqualOrUnder(extra, domain); });
    if (under && std::find(grant.granted.begin(), grant.granted.end(), extra) == grant.granted.end()) {
      grant.granted.push_back(extra);
    }
  }
  for (const auto& name : requested) {
    if (std::find(grant.granted.begin(), grant.granted.end(), name) == grant.granted.end()) {
      grant.ungranted.push_back(name);
    }
  }
  return grant;
}

}  // namespace topos::controller
