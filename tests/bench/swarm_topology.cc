#include "tests/bench/swarm_topology.h"

#include <algorithm>

namespace topos::bench {

std::string SwarmHostName(const std::string& pattern, int n) {
  std::string name = pattern;
  auto at = name.find("{n}");
  if (at != std::string::npos) name.replace(at, 3, std::to_string(n));
  return name;
}

std::string SwarmTopology(const std::string& pattern, int count, const std::string& role,
                          const std::string& setting, int services_per_host,
                          RoundSettingScope scope) {
  constexpr int kPoolSize = 10;
  std::string yaml = "sites:\n  - name: bench\nhosts:\n";
  for (int i = 0; i < count; ++i) yaml += "  - fqdn: " + SwarmHostName(pattern, i) + "\n";
  yaml += "pools:\n";
  for (int first = 0; first < count; first += kPoolSize) {
    std::string pool = "sim-pool-" + std::to_string(first / kPoolSize);
    yaml += "  - name: " + pool + "\n    fqdn: " + pool + ".bench.test\n    role: " + role +
            "\n    site: bench\n    hosts:\n";
    for (int i = first; i < std::min(count, first + kPoolSize); ++i) {
      yaml += "      - " + SwarmHostName(pattern, i) + "\n";
    }
    if (first == 0 && scope == RoundSettingScope::kFirstPool) {
      yaml += "    settings:\n      - key: bench.round\n        value: \"" + setting + "\"\n";
    }
  }
  if (scope == RoundSettingScope::kGlobal) {
    yaml += "settings:\n  - key: bench.round\n    value: \"" + setting + "\"\n";
  }
  // Services with a certificate binding, for certificate rollouts
  // (scripts/bench-certs.sh): each host runs all of them.
  if (services_per_host > 0) yaml += "services:\n";
  for (int k = 1; k <= services_per_host; ++k) {
    yaml += "  - name: sim-svc-" + std::to_string(k) + "\n    role: " + role +
            "\n    version: \"1.0\"\n    artifact: sim-svc.tar.gz\n    certificate:\n"
            "      cert_file: tls/cert.pem\n      key_file: tls/key.pem\n";
  }
  return yaml;
}

}  // namespace topos::bench
