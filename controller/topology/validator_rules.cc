// The validation rules. Each is one pass over what it checks, using the
// indexes Validator::Index built (validator.cc), so none is quadratic.
#include "controller/topology/validator_rules.h"

#include <algorithm>
#include <string>
#include <unordered_set>
#include <utility>

#include "common/signal_names.h"
#include "common/text.h"

namespace topos::topology::validator_internal {

namespace {

// At most this many pools are named in one host-in-one-pool message.
constexpr std::size_t kMaxNamedPools = 10;

std::string KindName(v1::StoreKind kind) {
  switch (kind) {
    case v1::STORE_KIND_DATABASE:
      return "database";
    case v1::STORE_KIND_FILE:
      return "file";
    case v1::STORE_KIND_COMPLIANCE:
      return "compliance";
    default:
      return "unspecified";
  }
}

}  // namespace

void Validator::RequiredFields() {
  auto need = [&](bool present, const std::string& path, std::string subject, std::string_view key,
                  std::string_view hint) {
    if (present) return;
    Report(path, std::move(subject), "no " + std::string(key) + " (" + std::string(hint) + ")",
           "required-field");
  };
  for (int i = 0; i < t_.sites_size(); ++i) {
    need(!t_.sites(i).name().empty(), Path("sites", i), "site " + Path("sites", i), "name",
         "add name: <site>");
  }
  for (int i = 0; i < t_.hosts_size(); ++i) {
    need(!t_.hosts(i).fqdn().empty(), Path("hosts", i), "host " + Path("hosts", i), "fqdn",
         "add fqdn: <host.domain>");
  }
  for (int i = 0; i < t_.pools_size(); ++i) {
    const auto& p = t_.pools(i);
    std::string path = Path("pools", i);
    need(!p.name().empty(), path, PoolSubject(i), "name", "add name: <pool>");
    need(!p.fqdn().empty(), path, PoolSubject(i), "fqdn", "add fqdn: <pool.domain>");
    need(!p.role().empty(), path, PoolSubject(i), "role", "add role: <a role of the catalog>");
    need(!p.site().empty(), path, PoolSubject(i), "site", "add site: <a site above>");
    need(p.hosts_size() > 0, path, PoolSubject(i), "hosts", "add hosts: [<host fqdn>, ...]");
  }
  for (int i = 0; i < t_.stores_size(); ++i) {
    const auto& s = t_.stores(i);
    std::string path = Path("stores", i);
    need(!s.name().empty(), path, StoreSubject(i), "name", "add name: <store>");
    need(s.kind() != v1::STORE_KIND_UNSPECIFIED, path, StoreSubject(i), "kind",
         "add kind: database | file | compliance");
    need(!s.host().empty(), path, StoreSubject(i), "host", "add host: <host fqdn>");
  }
  for (int i = 0; i < t_.services_size(); ++i) {
    const auto& s = t_.services(i);
    std::string subject = Subject("service", s.name(), Path("services", i));
    need(!s.name().empty(), Path("services", i), subject, "name", "add name: <service>");
    need(!s.role().empty(), Path("services", i), subject, "role",
         "add role: <a role of the catalog>");
  }
}

// A service's stop and reload signals are sent by the agents; a misspelt
// one would fail on every host at deploy or certificate renewal time.
void Validator::ServiceSignals() {
  for (int i = 0; i < t_.services_size(); ++i) {
    const auto& s = t_.services(i);
    std::string subject = Subject("service", s.name(), Path("services", i));
    if (!s.stop_signal().empty()) {
      if (auto signal = ParseSignalName(s.stop_signal()); !signal.ok()) {
        Report(Path("services", i) + ".stop_signal", subject,
               "stop_signal: " + signal.status().message(), "signal-name");
      }
    }
    if (!s.reload().empty() && s.reload() != "restart") {
      if (auto signal = ParseSignalName(s.reload()); !signal.ok()) {
        Report(Path("services", i) + ".reload", subject,
               "reload: " + signal.status().message() + " or \"restart\"", "signal-name");
      }
    }
  }
}

void Validator::FqdnValid() {
  auto check = [&](const std::string& fqdn, const std::string& path, std::string subject) {
    if (fqdn.empty()) return;  // required-field reports it
    Status status = CheckFqdn(fqdn);
    if (!status.ok()) Report(path, std::move(subject), status.message(), "fqdn-valid");
  };
  for (int i = 0; i < t_.hosts_size(); ++i) {
    const std::string& fqdn = t_.hosts(i).fqdn();
    check(fqdn, Path("hosts", i) + ".fqdn", "host " + Quote(fqdn));
  }
  for (int i = 0; i < t_.pools_size(); ++i) {
    check(t_.pools(i).fqdn(), Path("pools", i) + ".fqdn", PoolSubject(i));
  }
}

// An FQDN names one thing. The exception is the single-server shape: a
// pool may take the FQDN of a server that is one of its hosts, so pools
// collocated on that server share its name.
void Validator::FqdnUnique() {
  for (int i = 0; i < t_.hosts_size(); ++i) {
    const std::string& fqdn = t_.hosts(i).fqdn();
    int first = hosts_.at(fqdn);
    if (fqdn.empty() || first == i) continue;
    Report(Path("hosts", i) + ".fqdn", "host " + Quote(fqdn),
           "listed twice (first at " + sources_.Locate(Path("hosts", first)) +
               "); list each host once",
           "fqdn-unique");
  }
  Names pool_fqdns;
  for (int i = 0; i < t_.pools_size(); ++i) {
    const auto& p = t_.pools(i);
    if (p.fqdn().empty()) continue;
    std::string path = Path("pools", i) + ".fqdn";
    if (hosts_.count(p.fqdn()) != 0) {
      if (std::find(p.hosts().begin(), p.hosts().end(), p.fqdn()) == p.hosts().end()) {
        Report(path, PoolSubject(i),
               "FQDN " + Quote(p.fqdn()) +
                   " is the name of a host that is not in this pool; "
                   "give the pool its own FQDN",
               "fqdn-unique");
      }
      continue;
    }
    auto [it, inserted] = pool_fqdns.emplace(p.fqdn(), i);
    if (!inserted) {
      Report(path, PoolSubject(i),
             "FQDN " + Quote(p.fqdn()) + " is also pool " + Quote(t_.pools(it->second).name()) +
                 "'s (at " + sources_.Locate(Path("pools", it->second) + ".fqdn") +
                 "); give each pool its own FQDN",
             "fqdn-unique");
    }
  }
}

// Every host is in exactly one pool, except that a standard (single-server)
// pool's server also carries the pools collocated on it.
void Validator::HostInOnePool() {
  for (int i = 0; i < t_.pools_size(); ++i) {
    std::unordered_set<std::string_view> seen;
    const auto& hosts = t_.pools(i).hosts();
    for (int j = 0; j < hosts.size(); ++j) {
      if (seen.insert(hosts[j]).second) continue;
      Report(Path("pools", i) + ".hosts[" + std::to_string(j) + "]", PoolSubject(i),
             "host " + Quote(hosts[j]) + " listed twice; list it once", "host-in-one-pool");
    }
  }
  for (int i = 0; i < t_.hosts_size(); ++i) {
    const std::string& fqdn = t_.hosts(i).fqdn();
    if (fqdn.empty() || hosts_.at(fqdn) != i) continue;
    auto it = pools_of_.find(fqdn);
    if (it == pools_of_.end()) {
      Report(Path("hosts", i), "host " + Quote(fqdn),
             "in no pool; add it to one pool's hosts or remove it", "host-in-one-pool");
      continue;
    }
    const std::vector<int>& pools = it->second.pools;
    if (pools.size() == 1 || it->second.standard == 1) continue;
    std::string names;
    for (std::size_t k = 0; k < pools.size() && k < kMaxNamedPools; ++k) {
      names += (names.empty() ? "" : ", ") + Quote(t_.pools(pools[k]).name());
    }
    if (pools.size() > kMaxNamedPools) {
      names += " and " + std::to_string(pools.size() - kMaxNamedPools) + " more";
    }
    Report(Path("hosts", i), "host " + Quote(fqdn),
           "in pools " + names +
               "; a host belongs to one pool (or to one standard pool "
               "and the pools collocated on it)",
           "host-in-one-pool");
  }
}

void Validator::Reference(const Names& names, const std::string& value, const std::string& path,
                          const std::string& subject, std::string_view what) {
  if (value.empty() || names.count(value) != 0) return;
  Report(path, subject,
         std::string(what) + " " + Quote(value) + " is not defined; define it or fix the name",
         "reference-resolves");
}

// The store named by `path`'s value must exist and be of `kind`.
void Validator::StoreReference(const std::string& name, const std::string& path,
                               const std::string& subject, v1::StoreKind kind) {
  if (name.empty()) return;
  auto it = stores_.find(name);
  if (it == stores_.end()) return Reference(stores_, name, path, subject, "store");
  v1::StoreKind actual = t_.stores(it->second).kind();
  if (actual == kind || actual == v1::STORE_KIND_UNSPECIFIED) return;
  Report(path, subject,
         "store " + Quote(name) + " is a " + KindName(actual) + " store; name a " + KindName(kind) +
             " store here",
         "reference-resolves");
}

void Validator::References() {
  for (int i = 0; i < t_.pools_size(); ++i) {
    const auto& p = t_.pools(i);
    std::string path = Path("pools", i);
    std::string subject = PoolSubject(i);
    Reference(sites_, p.site(), path + ".site", subject, "site");
    if (!p.role().empty() && catalog_.Find(p.role()) == nullptr) {
      Report(path + ".role", subject,
             "role " + Quote(p.role()) + " is not in the role catalog " + catalog_.file(),
             "reference-resolves");
    }
    for (int j = 0; j < p.hosts_size(); ++j) {
      Reference(hosts_, p.hosts(j), path + ".hosts[" + std::to_string(j) + "]", subject, "host");
    }
    StoreReference(p.database_store(), path + ".database_store", subject, v1::STORE_KIND_DATABASE);
    StoreReference(p.file_store(), path + ".file_store", subject, v1::STORE_KIND_FILE);
    StoreReference(p.compliance_store(), path + ".compliance_store", subject,
                   v1::STORE_KIND_COMPLIANCE);
    Reference(pools_, p.routes_through(), path + ".routes_through", subject, "pool");
  }
  for (int i = 0; i < t_.stores_size(); ++i) {
    const auto& s = t_.stores(i);
    std::string path = Path("stores", i);
    Reference(hosts_, s.host(), path + ".host", StoreSubject(i), "host");
    if (s.backup() != s.name()) {  // store-not-own-backup reports that one
      StoreReference(s.backup(), path + ".backup", StoreSubject(i), s.kind());
    }
  }
  for (int i = 0; i < t_.services_size(); ++i) {
    const auto& s = t_.services(i);
    if (s.role().empty() || catalog_.Find(s.role()) != nullptr) continue;
    Report(Path("services", i) + ".role", Subject("service", s.name(), Path("services", i)),
           "role " + Quote(s.role()) + " is not in the role catalog " + catalog_.file(),
           "reference-resolves");
  }
}

void Validator::StoreNotOwnBackup() {
  for (int i = 0; i < t_.stores_size(); ++i) {
    const auto& s = t_.stores(i);
    if (s.backup().empty() || s.backup() != s.name()) continue;
    Report(Path("stores", i) + ".backup", StoreSubject(i),
           "is its own backup; name a second store on another host", "store-not-own-backup");
  }
}

void Validator::RoleRequirements() {
  for (int i = 0; i < t_.pools_size(); ++i) {
    const auto& p = t_.pools(i);
    const v1::Role* role = catalog_.Find(p.role());
    if (role == nullptr) continue;
    std::string path = Path("pools", i);
    auto rule = [&](std::string_view name) { return RoleCatalog::RuleName(*role, name); };
    if (role->requires_database_store() && p.database_store().empty()) {
      Report(path, PoolSubject(i), "no database store (set database_store: <a database store>)",
             rule("needs-database-store"));
    }
    if (role->requires_file_store() && p.file_store().empty()) {
      Report(path, PoolSubject(i), "no file store (set file_store: <a file store>)",
             rule("needs-file-store"));
    }
    if (p.compliance() && role->requires_compliance_store_when_compliance() &&
        p.compliance_store().empty()) {
      Report(path + ".compliance", PoolSubject(i),
             "compliance is on but there is no compliance store (set compliance_store: "
             "<a compliance store> or compliance: off)",
             rule("compliance-needs-store"));
    }
    if (role->max_hosts() != 0 && static_cast<unsigned>(p.hosts_size()) > role->max_hosts()) {
      Report(path + ".hosts", PoolSubject(i),
             std::to_string(p.hosts_size()) + " hosts; a " + p.role() + " pool has at most " +
                 std::to_string(role->max_hosts()),
             rule("max-hosts"));
    }
    Association(i, *role);
  }
}

void Validator::Association(int i, const v1::Role& role) {
  const auto& wanted = role.requires_association_with_roles();
  if (wanted.empty()) return;
  const auto& p = t_.pools(i);
  std::string roles;
  for (const auto& r : wanted) roles += (roles.empty() ? "" : " or ") + r;
  if (p.routes_through().empty()) {
    Report(
        Path("pools", i), PoolSubject(i),
        "not associated with a front-end pool (set routes_through: <a pool of role " + roles + ">)",
        RoleCatalog::RuleName(role, "needs-association"));
    return;
  }
  auto it = pools_.find(p.routes_through());
  if (it == pools_.end()) return;  // reference-resolves reports it
  const std::string& target_role = t_.pools(it->second).role();
  if (std::find(wanted.begin(), wanted.end(), target_role) != wanted.end()) return;
  Report(Path("pools", i) + ".routes_through", PoolSubject(i),
         "routes through pool " + Quote(p.routes_through()) + " of role " + Quote(target_role) +
             "; it must route through a pool of role " + roles,
         RoleCatalog::RuleName(role, "needs-association"));
}

// A pool collocated on a standard pool's server takes that server's FQDN,
// runs on that server alone, and keeps its stores there (the server's
// local database instance). Backup stores are exempt: disaster recovery
// wants them elsewhere. A server in two standard pools is host-in-one-pool's
// business: which of them the others are collocated on is unclear, and
// checking every pair would be quadratic.
void Validator::StandardShape() {
  for (int s = 0; s < t_.pools_size(); ++s) {
    if (!IsStandardPool(t_.pools(s))) continue;
    std::unordered_set<std::string_view> servers;
    for (const std::string& server : t_.pools(s).hosts()) {
      if (!servers.insert(server).second) continue;  // listed twice: reported already
      const HostPools& of = pools_of_.at(server);
      if (of.standard != 1) continue;
      for (int i : of.pools) {
        if (i == s) continue;
        const auto& p = t_.pools(i);
        const v1::Role* role = catalog_.Find(p.role());
        std::string rule = role ? RoleCatalog::RuleName(*role, "standard-shape") : "standard-shape";
        std::string where =
            " on standard pool " + Quote(t_.pools(s).name()) + "'s server " + Quote(server);
        std::string path = Path("pools", i);
        if (p.fqdn() != server) {
          Report(path + ".fqdn", PoolSubject(i),
                 "collocated" + where + ", so its FQDN must be " + Quote(server), rule);
        }
        if (p.hosts_size() != 1) {
          Report(path + ".hosts", PoolSubject(i),
                 "collocated" + where + ", so that server must be its only host", rule);
        }
        CollocatedStore(p.database_store(), path + ".database_store", i, server, where, rule);
        CollocatedStore(p.file_store(), path + ".file_store", i, server, where, rule);
        CollocatedStore(p.compliance_store(), path + ".compliance_store", i, server, where, rule);
      }
    }
  }
}

void Validator::CollocatedStore(const std::string& name, const std::string& path, int pool,
                                const std::string& server, const std::string& where,
                                const std::string& rule) {
  auto it = stores_.find(name);
  if (it == stores_.end()) return;
  const std::string& host = t_.stores(it->second).host();
  if (host.empty() || host == server) return;
  Report(path, PoolSubject(pool),
         "store " + Quote(name) + " is on " + Quote(host) + " but the pool is collocated" + where +
             "; put the store on " + Quote(server),
         rule);
}

}  // namespace topos::topology::validator_internal
