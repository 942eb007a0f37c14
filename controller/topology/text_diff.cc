#include "controller/topology/text_diff.h"

#include <sstream>
#include <vector>

namespace topos::topology {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

struct Edit {
  char kind;  // ' ', '-', '+'
  int from_line;  // 0-based index in `from` (for ' ' and '-')
  int to_line;    // 0-based index in `to` (for ' ' and '+')
};

// Longest common subsequence, O(n*m): topologies are at most a few thousand
// lines (the loader caps them at 1 MiB).
std::vector<Edit> Script(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const int n = static_cast<int>(a.size()), m = static_cast<int>(b.size());
  std::vector<std::vector<int>> lcs(n + 1, std::vector<int>(m + 1, 0));
  for (int i = n - 1; i >= 0; --i) {
    for (int j = m - 1; j >= 0; --j) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::vector<Edit> edits;
  int i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      edits.push_back({' ', i++, j++});
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      edits.push_back({'-', i++, j});  // removals first, as `diff -u` prints them
    } else {
      edits.push_back({'+', i, j++});
    }
  }
  return edits;
}

}  // namespace

std::string UnifiedDiff(const std::string& from, const std::string& to,
                        const std::string& from_name, const std::string& to_name, int context) {
  if (from == to) return "";
  auto a = Lines(from), b = Lines(to);
  auto edits = Script(a, b);
  std::ostringstream out;
  out << "--- " << from_name << "\n+++ " << to_name << "\n";
  const int total = static_cast<int>(edits.size());
  int k = 0;
  while (k < total) {
    if (edits[k].kind == ' ') {
      ++k;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` lines
    // after the last change that is no more than 2*context lines away.
    int start = std::max(0, k - context), end = k;
    while (end < total) {
      int next_change = end;
      while (next_change < total && edits[next_change].kind == ' ') ++next_change;
      if (next_change == total || next_change - end > 2 * context) break;
      end = next_change + 1;
    }
    end = std::min(total, end + context);
    int from_count = 0, to_count = 0;
    for (int e = start; e < end; ++e) {
      if (edits[e].kind != '+') ++from_count;
      if (edits[e].kind != '-') ++to_count;
    }
    out << "@@ -" << edits[start].from_line + 1 << "," << from_count << " +"
        << edits[start].to_line + 1 << "," << to_count << " @@\n";
    for (int e = start; e < end; ++e) {
      const std::string& line = edits[e].kind == '+' ? b[edits[e].to_line] : a[edits[e].from_line];
      out << edits[e].kind << line << "\n";
    }
    k = end;
  }
  return out.str();
}

}  // namespace topos::topology
