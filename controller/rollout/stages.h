// The order in which a rollout visits its pools. Pure: no I/O.
//
// Rule: a stage is the set of pools whose dependencies are all in earlier
// stages; stage 0 holds the pools that depend on nothing. The caller fills
// the dependencies from the topology and the role catalog: a pool depends on
// its stores (stores before the pools that use them), on the pool it routes
// through (front ends before the pools behind them), and on the pools of the
// roles in its role's deploy_after. Example:
//
//   chat-db (store)                        stage 0: chat-db, edge
//   edge    (front end)                    stage 1: chat
//   chat    depends on chat-db, edge       stage 2: archive
//   archive depends on chat
//
// Within a stage pools are sorted by name, so the same topology always gives
// the same plan. A stage starts only when every pool of the stage before it
// has finished (engine.h).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace topos::rollout {

// One pool (or store) of a rollout and the names it must come after.
struct PoolNode {
  std::string name;
  std::vector<std::string> depends_on;  // names of other nodes; duplicates are harmless
};

// Groups `pools` into stages as above. InvalidArgument when a name is empty
// or repeated, when a pool depends on itself or on a name that is not among
// `pools`, or when dependencies form a cycle; a cycle's message names the
// pools on it in order: `pools depend on each other in a cycle: a -> b -> a
// (break one dependency)`.
Result<std::vector<std::vector<std::string>>> OrderStages(const std::vector<PoolNode>& pools);

}  // namespace topos::rollout
