// A readable line diff of two texts (two topology versions), in the unified
// style operators know from `diff -u`: changed lines with a few lines of
// context, "@@" headers giving line numbers. A pure function.
#pragma once

#include <string>

namespace topos::topology {

// Returns "" when the texts are equal. `from_name` / `to_name` label the
// "---" / "+++" header lines.
std::string UnifiedDiff(const std::string& from, const std::string& to,
                        const std::string& from_name, const std::string& to_name,
                        int context = 3);

}  // namespace topos::topology
