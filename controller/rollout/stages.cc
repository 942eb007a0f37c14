#include "controller/rollout/stages.h"

#include <algorithm>
#include <map>
#include <set>

namespace topos::rollout {
namespace {

// Finds one cycle among `remaining` (nodes that never became ready) and
// describes it: "a -> b -> a". Every remaining node has a remaining
// dependency, so walking dependencies from any of them must revisit a node.
std::string DescribeCycle(const std::map<std::string, std::set<std::string>>& remaining) {
  std::vector<std::string> path;
  std::map<std::string, size_t> position;
  std::string at = remaining.begin()->first;
  while (!position.count(at)) {
    position[at] = path.size();
    path.push_back(at);
    const std::set<std::string>& deps = remaining.at(at);
    // The smallest remaining dependency, for a deterministic message.
    auto next = std::find_if(deps.begin(), deps.end(),
                             [&](const std::string& d) { return remaining.count(d) > 0; });
    at = *next;
  }
  std::string text;
  for (size_t i = position[at]; i < path.size(); ++i) text += path[i] + " -> ";
  return text + at;
}

}  // namespace

Result<std::vector<std::vector<std::string>>> OrderStages(const std::vector<PoolNode>& pools) {
  std::map<std::string, std::set<std::string>> deps;  // pool -> its dependencies
  for (const PoolNode& pool : pools) {
    if (pool.name.empty()) return Status::InvalidArgument("a pool has an empty name");
    if (!deps.emplace(pool.name, std::set<std::string>()).second) {
      return Status::InvalidArgument("pool \"" + pool.name + "\" is listed twice");
    }
  }
  for (const PoolNode& pool : pools) {
    for (const std::string& dep : pool.depends_on) {
      if (dep == pool.name) {
        return Status::InvalidArgument("pool \"" + pool.name + "\" depends on itself");
      }
      if (!deps.count(dep)) {
        return Status::InvalidArgument("pool \"" + pool.name + "\" depends on \"" + dep +
                                       "\", which is not part of this rollout");
      }
      deps[pool.name].insert(dep);
    }
  }

  std::vector<std::vector<std::string>> stages;
  std::set<std::string> placed;
  while (!deps.empty()) {
    std::vector<std::string> stage;  // std::map iteration: sorted by name
    for (const auto& [name, needs] : deps) {
      if (std::all_of(needs.begin(), needs.end(),
                      [&](const std::string& d) { return placed.count(d) > 0; })) {
        stage.push_back(name);
      }
    }
    if (stage.empty()) {
      return Status::InvalidArgument("pools depend on each other in a cycle: " +
                                     DescribeCycle(deps) + " (break one dependency)");
    }
    for (const std::string& name : stage) {
      deps.erase(name);
      placed.insert(name);
    }
    stages.push_back(std::move(stage));
  }
  return stages;
}

}  // namespace topos::rollout
