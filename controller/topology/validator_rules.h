// Internal to the validator (validator.cc, validator_rules.cc); include
// validator.h instead.
//
// The Validator runs every rule over one topology. Indexes are built once, so
// each rule is one pass over the elements it checks and the whole run stays
// linear in the size of the topology, however many aliases multiplied it. A
// rule that depends on a reference skips what reference-resolves already
// reported, so one mistake gives one message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "controller/topology/role_catalog.h"
#include "controller/topology/validator.h"
#include "controller/topology/yaml_loader.h"
#include "topos/v1/topology.pb.h"

namespace topos::topology::validator_internal {

// Name -> index of its first definition. Keys view strings of the topology,
// which outlives the Validator.
using Names = std::unordered_map<std::string_view, int>;

// "pools[2]".
std::string Path(std::string_view list, int i);
// "\"chat\"".
std::string Quote(std::string_view text);

class Validator {
 public:
  Validator(const v1::Topology& topology, const SourceMap& sources, const RoleCatalog& catalog)
      : t_(topology), sources_(sources), catalog_(catalog) {}

  // Every problem up to kMaxReportedProblems, sorted by position, then the
  // summary line when there were more.
  std::vector<ValidationError> Run();

 private:
  // The pools that list one host, each once, in index order.
  struct HostPools {
    std::vector<int> pools;
    int standard = 0;  // how many of them are standard (single-server) pools
  };

  // One problem kept for the report; `sequence` keeps equal positions in the
  // order the rules found them.
  struct Kept {
    ValidationError error;
    std::size_t sequence;
  };

  // validator.cc: reporting and indexes.
  void Report(const std::string& path, std::string subject, std::string message, std::string rule);
  static std::string Subject(std::string_view kind, std::string_view name, const std::string& path);
  std::string PoolSubject(int i) const;
  std::string StoreSubject(int i) const;
  bool IsStandardPool(const v1::Pool& pool) const;
  void Index();

  // validator_rules.cc: the rules, in the order they run.
  void RequiredFields();
  void ServiceSignals();
  void FqdnValid();
  void FqdnUnique();
  void HostInOnePool();
  void References();
  void Reference(const Names& names, const std::string& value, const std::string& path,
                 const std::string& subject, std::string_view what);
  void StoreReference(const std::string& name, const std::string& path, const std::string& subject,
                      v1::StoreKind kind);
  void StoreNotOwnBackup();
  void RoleRequirements();
  void Association(int i, const v1::Role& role);
  void StandardShape();
  void CollocatedStore(const std::string& name, const std::string& path, int pool,
                       const std::string& server, const std::string& where,
                       const std::string& rule);

  const v1::Topology& t_;
  const SourceMap& sources_;
  const RoleCatalog& catalog_;
  Names sites_, pools_, stores_, hosts_;
  std::unordered_map<std::string_view, HostPools> pools_of_;  // host fqdn -> pools listing it
  // The first kMaxReportedProblems problems by position, as a max-heap on
  // (position, sequence) so a problem that sorts earlier evicts the last.
  std::vector<Kept> kept_;
  std::size_t reported_ = 0;  // every problem found, kept or not
};

}  // namespace topos::topology::validator_internal
