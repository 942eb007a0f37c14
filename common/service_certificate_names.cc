#include "common/service_certificate_names.h"

#include <algorithm>

namespace topos {

std::vector<std::string> ServiceCertificateNames(const v1::HostConfig& slice,
                                                 const v1::Service& service,
                                                 const std::string& host_fqdn) {
  std::vector<std::string> names{host_fqdn};
  auto add = [&](const std::string& name) {
    if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(name);
    }
  };
  for (const auto& pool : slice.pools()) {
    const auto& hosts = pool.hosts();
    if (std::find(hosts.begin(), hosts.end(), host_fqdn) != hosts.end()) add(pool.fqdn());
  }
  for (const auto& name : service.certificate().names()) add(name);
  return names;
}

}  // namespace topos
