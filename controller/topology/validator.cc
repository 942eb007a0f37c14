// The Validator's frame: indexes, reporting with its cap, and the entry
// point. The rules are in validator_rules.cc.
#include "controller/topology/validator.h"

#include <algorithm>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "controller/topology/validator_rules.h"

namespace topos::topology {

std::string ValidationError::ToString() const {
  if (IsSummary()) return message;
  std::string where = file;
  if (position.line != 0) {
    where += ":" + std::to_string(position.line) + ":" + std::to_string(position.column);
  }
  return where + ": " + subject + ": " + message + " (rule " + rule + ")";
}

namespace validator_internal {

std::string Path(std::string_view list, int i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

namespace {

// Report order: by position, then in the order the rules found them (what a
// stable sort by position gives).
bool Earlier(const SourcePosition& a, std::size_t a_sequence, const SourcePosition& b,
             std::size_t b_sequence) {
  return std::tie(a.line, a.column, a_sequence) < std::tie(b.line, b.column, b_sequence);
}

}  // namespace

std::vector<ValidationError> Validator::Run() {
  Index();
  RequiredFields();
  ServiceSignals();
  FqdnValid();
  FqdnUnique();
  HostInOnePool();
  References();
  StoreNotOwnBackup();
  RoleRequirements();
  StandardShape();
  std::sort(kept_.begin(), kept_.end(), [](const Kept& a, const Kept& b) {
    return Earlier(a.error.position, a.sequence, b.error.position, b.sequence);
  });
  std::vector<ValidationError> errors;
  errors.reserve(kept_.size() + 1);
  for (Kept& kept : kept_) errors.push_back(std::move(kept.error));
  if (reported_ > kept_.size()) {
    errors.push_back(
        {sources_.file(),
         {},
         "",
         "... and " + std::to_string(reported_ - kept_.size()) + " more problems (fix these first)",
         ""});
  }
  return errors;
}

// Keeps the problem if it is among the first kMaxReportedProblems by
// position so far; counts it either way. The kept ones form a max-heap, so
// the latest of them is at the front, ready to be evicted.
void Validator::Report(const std::string& path, std::string subject, std::string message,
                       std::string rule) {
  std::size_t sequence = reported_++;
  SourcePosition position = sources_.Find(path);
  auto later_first = [](const Kept& a, const Kept& b) {
    return Earlier(a.error.position, a.sequence, b.error.position, b.sequence);
  };
  if (kept_.size() == kMaxReportedProblems) {
    const Kept& latest = kept_.front();
    if (!Earlier(position, sequence, latest.error.position, latest.sequence)) return;
    std::pop_heap(kept_.begin(), kept_.end(), later_first);
    kept_.pop_back();
  }
  kept_.push_back(
      {{sources_.file(), position, std::move(subject), std::move(message), std::move(rule)},
       sequence});
  std::push_heap(kept_.begin(), kept_.end(), later_first);
}

// `pool "chat"`, or `pool pools[2]` for one without a name.
std::string Validator::Subject(std::string_view kind, std::string_view name,
                               const std::string& path) {
  return std::string(kind) + " " + (name.empty() ? path : Quote(name));
}

std::string Validator::PoolSubject(int i) const {
  return Subject("pool", t_.pools(i).name(), Path("pools", i));
}

std::string Validator::StoreSubject(int i) const {
  return Subject("store", t_.stores(i).name(), Path("stores", i));
}

bool Validator::IsStandardPool(const v1::Pool& pool) const {
  const v1::Role* role = catalog_.Find(pool.role());
  return role != nullptr && role->standard();
}

// Builds name indexes; a second definition of a name is a name-unique error.
// Also indexes which pools list each host.
void Validator::Index() {
  auto index = [&](auto& names, std::string_view list, std::string_view kind, int i,
                   const std::string& name, std::string_view key) {
    if (name.empty()) return;
    auto [it, inserted] = names.emplace(name, i);
    if (inserted) return;
    Report(Path(list, i) + "." + std::string(key), Subject(kind, name, Path(list, i)),
           "defined twice (first at " + sources_.Locate(Path(list, it->second)) +
               "); give each a different " + std::string(key),
           "name-unique");
  };
  for (int i = 0; i < t_.sites_size(); ++i) {
    index(sites_, "sites", "site", i, t_.sites(i).name(), "name");
  }
  for (int i = 0; i < t_.pools_size(); ++i) {
    index(pools_, "pools", "pool", i, t_.pools(i).name(), "name");
  }
  for (int i = 0; i < t_.stores_size(); ++i) {
    index(stores_, "stores", "store", i, t_.stores(i).name(), "name");
  }
  std::unordered_map<std::string, int> services;  // "role/name" -> index
  for (int i = 0; i < t_.services_size(); ++i) {
    const auto& s = t_.services(i);
    if (!s.name().empty()) {
      index(services, "services", "service", i, s.role() + "/" + s.name(), "name");
    }
  }
  // Host FQDN duplicates are fqdn-unique's business.
  for (int i = 0; i < t_.hosts_size(); ++i) hosts_.emplace(t_.hosts(i).fqdn(), i);
  // A host listed twice in one pool counts once here; host-in-one-pool
  // reports the repeat.
  for (int i = 0; i < t_.pools_size(); ++i) {
    const bool standard = IsStandardPool(t_.pools(i));
    std::unordered_set<std::string_view> seen;
    for (const std::string& host : t_.pools(i).hosts()) {
      if (!seen.insert(host).second) continue;
      HostPools& of = pools_of_[host];
      of.pools.push_back(i);
      of.standard += standard ? 1 : 0;
    }
  }
}

}  // namespace validator_internal

std::vector<ValidationError> ValidateTopology(const v1::Topology& topology,
                                              const SourceMap& sources,
                                              const RoleCatalog& catalog) {
  return validator_internal::Validator(topology, sources, catalog).Run();
}

}  // namespace topos::topology
