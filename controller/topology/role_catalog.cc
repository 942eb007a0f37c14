#include "controller/topology/role_catalog.h"

#include <utility>
#include <vector>

namespace topos::topology {

Result<RoleCatalog> RoleCatalog::LoadFile(const std::filesystem::path& path) {
  auto loaded = LoadYamlFileAs<v1::RoleCatalog>(path);
  if (!loaded.ok()) return loaded.status();
  return Check(std::move(loaded).value());
}

Result<RoleCatalog> RoleCatalog::LoadText(std::string_view text, std::string file) {
  auto loaded = LoadYamlAs<v1::RoleCatalog>(text, std::move(file));
  if (!loaded.ok()) return loaded.status();
  return Check(std::move(loaded).value());
}

const v1::Role* RoleCatalog::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &catalog_.roles(it->second);
}

std::string RoleCatalog::RuleName(const v1::Role& role, std::string_view rule) {
  const std::string& prefix = role.rule_prefix().empty() ? role.name() : role.rule_prefix();
  return prefix + "-" + std::string(rule);
}

Result<RoleCatalog> RoleCatalog::Check(Loaded<v1::RoleCatalog> loaded) {
  RoleCatalog catalog;
  catalog.file_ = loaded.sources.file();
  catalog.catalog_ = std::move(loaded.message);
  const SourceMap& sources = loaded.sources;
  std::vector<std::string> errors;
  const auto& roles = catalog.catalog_.roles();
  for (int i = 0; i < roles.size(); ++i) {
    std::string path = "roles[" + std::to_string(i) + "]";
    if (roles[i].name().empty()) {
      errors.push_back(sources.Locate(path) + ": a role needs a name");
    } else if (!catalog.index_.emplace(roles[i].name(), i).second) {
      errors.push_back(sources.Locate(path + ".name") + ": role \"" + roles[i].name() +
                       "\" is defined twice");
    }
  }
  // References are checked once every name is known, so order does not matter.
  auto check_refs = [&](int i, const std::string& field,
                        const google::protobuf::RepeatedPtrField<std::string>& names) {
    for (int j = 0; j < names.size(); ++j) {
      if (catalog.index_.count(names[j]) != 0) continue;
      std::string path =
          "roles[" + std::to_string(i) + "]." + field + "[" + std::to_string(j) + "]";
      errors.push_back(sources.Locate(path) + ": role \"" + roles[i].name() + "\": " + field +
                       " names \"" + names[j] + "\", which is not a role in this catalog");
    }
  };
  for (int i = 0; i < roles.size(); ++i) {
    check_refs(i, "deploy_after", roles[i].deploy_after());
    check_refs(i, "requires_association_with_roles", roles[i].requires_association_with_roles());
  }
  if (errors.empty()) return catalog;
  std::string all;
  for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e;
  return Status::InvalidArgument(all);
}

}  // namespace topos::topology
