#include "controller/topology/validator.h"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>

#include "common/text.h"

namespace topos::topology {

std::string ValidationError::ToString() const {
  std::string where = file;
  if (position.line != 0) {
    where += ":" + std::to_string(position.line) + ":" + std::to_string(position.column);
  }
  return where + ": " + subject + ": " + message + " (rule " + rule + ")";
}

namespace {

using Names = std::map<std::string, int, std::less<>>;  // name -> index of first definition

std::string Path(std::string_view list, int i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

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

// Runs every rule over one topology. Indexes are built once; a rule that
// depends on a reference skips what reference-resolves already reported, so
// one mistake gives one message.
class Validator {
 public:
  Validator(const v1::Topology& topology, const SourceMap& sources, const RoleCatalog& catalog)
      : t_(topology), sources_(sources), catalog_(catalog) {}

  std::vector<ValidationError> Run() {
    Index();
    RequiredFields();
    FqdnValid();
    FqdnUnique();
    HostInOnePool();
    References();
    StoreNotOwnBackup();
    RoleRequirements();
    StandardShape();
    std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
      return std::pair(a.position.line, a.position.column) <
             std::pair(b.position.line, b.position.column);
    });
    return std::move(errors_);
  }

 private:
  void Report(const std::string& path, std::string subject, std::string message, std::string rule) {
    errors_.push_back({sources_.file(), sources_.Find(path), std::move(subject), std::move(message),
                       std::move(rule)});
  }

  // `pool "chat"`, or `pool pools[2]` for one without a name.
  static std::string Subject(std::string_view kind, std::string_view name,
                             const std::string& path) {
    return std::string(kind) + " " + (name.empty() ? path : Quote(name));
  }
  std::string PoolSubject(int i) const {
    return Subject("pool", t_.pools(i).name(), Path("pools", i));
  }
  std::string StoreSubject(int i) const {
    return Subject("store", t_.stores(i).name(), Path("stores", i));
  }

  // Builds name indexes; a second definition of a name is a name-unique error.
  void Index() {
    auto index = [&](Names& names, std::string_view list, std::string_view kind, int i,
                     const std::string& name, std::string_view key) {
      if (name.empty()) return;
      auto [it, inserted] = names.emplace(name, i);
      if (inserted) return;
      Report(Path(list, i) + "." + std::string(key), Subject(kind, name, Path(list, i)),
             "defined twice (first at " + sources_.Locate(Path(list, it->second)) +
                 "); give each a different " + std::string(key),
             "name-unique");
    };
    for (int i = 0; i < t_.sites_size(); ++i)
      index(sites_, "sites", "site", i, t_.sites(i).name(), "name");
    for (int i = 0; i < t_.pools_size(); ++i)
      index(pools_, "pools", "pool", i, t_.pools(i).name(), "name");
    for (int i = 0; i < t_.stores_size(); ++i)
      index(stores_, "stores", "store", i, t_.stores(i).name(), "name");
    Names services;
    for (int i = 0; i < t_.services_size(); ++i) {
      const auto& s = t_.services(i);
      if (!s.name().empty())
        index(services, "services", "service", i, s.role() + "/" + s.name(), "name");
    }
    // Host FQDN duplicates are fqdn-unique's business.
    for (int i = 0; i < t_.hosts_size(); ++i) hosts_.emplace(t_.hosts(i).fqdn(), i);
  }

  void RequiredFields() {
    auto need = [&](bool present, const std::string& path, std::string subject,
                    std::string_view key, std::string_view hint) {
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

  void FqdnValid() {
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
  void FqdnUnique() {
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

  bool IsStandardPool(const v1::Pool& pool) const {
    const v1::Role* role = catalog_.Find(pool.role());
    return role != nullptr && role->standard();
  }

  // Every host is in exactly one pool, except that a standard (single-server)
  // pool's server also carries the pools collocated on it.
  void HostInOnePool() {
    std::map<std::string, std::vector<int>> pools_of;  // host fqdn -> pool indexes
    for (int i = 0; i < t_.pools_size(); ++i) {
      std::set<std::string> seen;
      const auto& hosts = t_.pools(i).hosts();
      for (int j = 0; j < hosts.size(); ++j) {
        if (!seen.insert(hosts[j]).second) {
          Report(Path("pools", i) + ".hosts[" + std::to_string(j) + "]", PoolSubject(i),
                 "host " + Quote(hosts[j]) + " listed twice; list it once", "host-in-one-pool");
          continue;
        }
        pools_of[hosts[j]].push_back(i);
      }
    }
    for (int i = 0; i < t_.hosts_size(); ++i) {
      const std::string& fqdn = t_.hosts(i).fqdn();
      if (fqdn.empty() || hosts_.at(fqdn) != i) continue;
      auto it = pools_of.find(fqdn);
      if (it == pools_of.end()) {
        Report(Path("hosts", i), "host " + Quote(fqdn),
               "in no pool; add it to one pool's hosts or remove it", "host-in-one-pool");
        continue;
      }
      const std::vector<int>& pools = it->second;
      if (pools.size() == 1) continue;
      int standard = 0;
      for (int p : pools) standard += IsStandardPool(t_.pools(p)) ? 1 : 0;
      if (standard == 1) continue;
      std::string names;
      for (int p : pools) names += (names.empty() ? "" : ", ") + Quote(t_.pools(p).name());
      Report(Path("hosts", i), "host " + Quote(fqdn),
             "in pools " + names +
                 "; a host belongs to one pool (or to one standard pool "
                 "and the pools collocated on it)",
             "host-in-one-pool");
    }
  }

  void Reference(const Names& names, const std::string& value, const std::string& path,
                 const std::string& subject, std::string_view what) {
    if (value.empty() || names.count(value) != 0) return;
    Report(path, subject,
           std::string(what) + " " + Quote(value) + " is not defined; define it or fix the name",
           "reference-resolves");
  }

  // The store named by `path`'s value must exist and be of `kind`.
  void StoreReference(const std::string& name, const std::string& path, const std::string& subject,
                      v1::StoreKind kind) {
    if (name.empty()) return;
    auto it = stores_.find(name);
    if (it == stores_.end()) return Reference(stores_, name, path, subject, "store");
    v1::StoreKind actual = t_.stores(it->second).kind();
    if (actual == kind || actual == v1::STORE_KIND_UNSPECIFIED) return;
    Report(path, subject,
           "store " + Quote(name) + " is a " + KindName(actual) + " store; name a " +
               KindName(kind) + " store here",
           "reference-resolves");
  }

  void References() {
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
      StoreReference(p.database_store(), path + ".database_store", subject,
                     v1::STORE_KIND_DATABASE);
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

  void StoreNotOwnBackup() {
    for (int i = 0; i < t_.stores_size(); ++i) {
      const auto& s = t_.stores(i);
      if (s.backup().empty() || s.backup() != s.name()) continue;
      Report(Path("stores", i) + ".backup", StoreSubject(i),
             "is its own backup; name a second store on another host", "store-not-own-backup");
    }
  }

  void RoleRequirements() {
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

  void Association(int i, const v1::Role& role) {
    const auto& wanted = role.requires_association_with_roles();
    if (wanted.empty()) return;
    const auto& p = t_.pools(i);
    std::string roles;
    for (const auto& r : wanted) roles += (roles.empty() ? "" : " or ") + r;
    if (p.routes_through().empty()) {
      Report(Path("pools", i), PoolSubject(i),
             "not associated with a front-end pool (set routes_through: <a pool of role " + roles +
                 ">)",
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
  // wants them elsewhere.
  void StandardShape() {
    for (int s = 0; s < t_.pools_size(); ++s) {
      if (!IsStandardPool(t_.pools(s))) continue;
      for (const std::string& server : t_.pools(s).hosts()) {
        for (int i = 0; i < t_.pools_size(); ++i) {
          const auto& p = t_.pools(i);
          if (i == s || std::find(p.hosts().begin(), p.hosts().end(), server) == p.hosts().end()) {
            continue;
          }
          const v1::Role* role = catalog_.Find(p.role());
          std::string rule =
              role ? RoleCatalog::RuleName(*role, "standard-shape") : "standard-shape";
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

  void CollocatedStore(const std::string& name, const std::string& path, int pool,
                       const std::string& server, const std::string& where,
                       const std::string& rule) {
    auto it = stores_.find(name);
    if (it == stores_.end()) return;
    const std::string& host = t_.stores(it->second).host();
    if (host.empty() || host == server) return;
    Report(path, PoolSubject(pool),
           "store " + Quote(name) + " is on " + Quote(host) + " but the pool is collocated" +
               where + "; put the store on " + Quote(server),
           rule);
  }

  const v1::Topology& t_;
  const SourceMap& sources_;
  const RoleCatalog& catalog_;
  Names sites_, pools_, stores_, hosts_;
  std::vector<ValidationError> errors_;
};

}  // namespace

std::vector<ValidationError> ValidateTopology(const v1::Topology& topology,
                                              const SourceMap& sources,
                                              const RoleCatalog& catalog) {
  return Validator(topology, sources, catalog).Run();
}

}  // namespace topos::topology
