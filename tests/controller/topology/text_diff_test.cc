#include "controller/topology/text_diff.h"

#include <gtest/gtest.h>

namespace topos::topology {
namespace {

TEST(UnifiedDiff, EqualTextsHaveNoDiff) {
  EXPECT_EQ(UnifiedDiff("a\nb\n", "a\nb\n", "v1", "v2"), "");
}

TEST(UnifiedDiff, ShowsChangedLinesWithContextAndLineNumbers) {
  std::string from = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
  std::string to = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11\n";
  std::string diff = UnifiedDiff(from, to, "version 1", "version 2", 1);
  EXPECT_EQ(diff,
            "--- version 1\n+++ version 2\n"
            "@@ -4,3 +4,3 @@\n 4\n-5\n+five\n 6\n"
            "@@ -10,1 +10,2 @@\n 10\n+11\n");
}

TEST(UnifiedDiff, HandlesEmptySides) {
  EXPECT_EQ(UnifiedDiff("", "a\n", "x", "y"), "--- x\n+++ y\n@@ -1,0 +1,1 @@\n+a\n");
  EXPECT_EQ(UnifiedDiff("a\n", "", "x", "y"), "--- x\n+++ y\n@@ -1,1 +1,0 @@\n-a\n");
}

}  // namespace
}  // namespace topos::topology
