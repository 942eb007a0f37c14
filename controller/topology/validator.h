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
// Thread-safety: a pure function of its arguments.
#pragma once

#include <string>
#include <vector>

#include "controller/topology/role_catalog.h"
#include "controller/topology/yaml_loader.h"
#include "topos/v1/topology.pb.h"

namespace topos::topology {

// One broken rule.
struct ValidationError {
  std::string file;         // the topology file, as given
  SourcePosition position;  // where to look; line 0 when unknown
  std::string subject;      // what is wrong: `pool "chat"`
  std::string message;      // what and how to fix it
  std::string rule;         // the rule's name

  // "file:line:col: subject: message (rule name)".
  std::string ToString() const;
};

// Every rule's findings, sorted by position (line, then column).
std::vector<ValidationError> ValidateTopology(const v1::Topology& topology,
                                              const SourceMap& sources, const RoleCatalog& catalog);

}  // namespace topos::topology
