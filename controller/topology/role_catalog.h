// The role catalog: what each role requires of a pool (stores, an
// association, a host limit, the single-server shape). Rules are data here so
// another product can be described by a new catalog file, without code.
//
// Thread-safety: immutable after construction; safe to share across threads.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "controller/topology/yaml_loader.h"
#include "topos/v1/topology.pb.h"

namespace topos::topology {

class RoleCatalog {
 public:
  // Loads and checks a catalog file (YAML, schema topos.v1.RoleCatalog):
  // role names unique and non-empty, deploy_after and
  // requires_association_with_roles name roles of the catalog. Errors read
  // "file:line:col: problem", one per line.
  static Result<RoleCatalog> LoadFile(const std::filesystem::path& path);
  // The same from text; `file` names it in messages.
  static Result<RoleCatalog> LoadText(std::string_view text, std::string file);

  // The role called `name`, or nullptr.
  const v1::Role* Find(std::string_view name) const;

  // A rule's full name for `role`: "chat" + "needs-file-store" gives
  // "chat-needs-file-store" (the role's rule_prefix, else its name).
  static std::string RuleName(const v1::Role& role, std::string_view rule);

  const v1::RoleCatalog& proto() const { return catalog_; }
  // Where the catalog was loaded from, as given.
  const std::string& file() const { return file_; }

 private:
  static Result<RoleCatalog> Check(Loaded<v1::RoleCatalog> loaded);

  v1::RoleCatalog catalog_;
  std::string file_;
  std::map<std::string, int, std::less<>> index_;  // role name -> index in catalog_.roles
};

}  // namespace topos::topology
