// Checks a loaded topology against named rules and the role catalog, and
// reports every problem at once, each pointing at the line to change:
//
//   pchat.yaml:14:5: pool "chat": no file store (rule chat-needs-file-store)
//
// Rules with fixed names: required-field, name-unique, fqdn-valid,
// fqdn-unique, host-in-one-pool, reference-resolves, store-not-own-backup.
// Rules whose names come from the catalog (prefix = the role's rule_prefix):
// <prefix>-needs-database-store, <prefix>-needs-file-store,
// <prefix>-needs-association, <prefix>-compliance-needs-store,
// <prefix>-max-hosts, <prefix>-standard-shape.
//
// At most kMaxReportedProblems are reported, the first ones by position; the
// rest are counted into one last line:
//
//   ... and 201300 more problems (fix these first)
//
// Work is linear in the size of the loaded topology (aliases included).
//
// Thread-safety: a pure function of its arguments.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "controller/topology/role_catalog.h"
#include "controller/topology/yaml_loader.h"
#include "topos/v1/topology.pb.h"

namespace topos::topology {

// Past this many problems the rest are noise; the operator fixes these first.
inline constexpr std::size_t kMaxReportedProblems = 200;

// One broken rule, or the summary of the problems not reported.
struct ValidationError {
  std::string file;         // the topology file, as given
  SourcePosition position;  // where to look; line 0 when unknown
  std::string subject;      // what is wrong: `pool "chat"`
  std::string message;      // what and how to fix it
  std::string rule;         // the rule's name

  // "file:line:col: subject: message (rule name)"; a summary is its message
  // alone.
  std::string ToString() const;

  // The last entry when problems were left out: no rule, no subject, no
  // position, and the message "... and N more problems (fix these first)".
  bool IsSummary() const { return rule.empty(); }
};

// Every rule's findings, sorted by position (line, then column): at most
// kMaxReportedProblems of them, the first by position, and then a summary
// (IsSummary()) counting the others when there were more.
std::vector<ValidationError> ValidateTopology(const v1::Topology& topology,
                                              const SourceMap& sources, const RoleCatalog& catalog);

}  // namespace topos::topology
