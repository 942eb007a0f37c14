#include "controller/rollout/stages.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace topos::rollout {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Stages = std::vector<std::vector<std::string>>;

TEST(OrderStages, StoresAndFrontEndsComeBeforeThePoolsThatUseThem) {
  Result<Stages> stages = OrderStages({
      {"chat", {"chat-db", "edge", "chat-files"}},
      {"archive", {"chat"}},
      {"edge", {}},
      {"chat-db", {}},
      {"chat-files", {}},
  });
  ASSERT_TRUE(stages.ok()) << stages.status().message();
  EXPECT_THAT(*stages, ElementsAre(ElementsAre("chat-db", "chat-files", "edge"),
                                   ElementsAre("chat"), ElementsAre("archive")));
}

TEST(OrderStages, IndependentPoolsShareOneStageSortedByName) {
  Result<Stages> stages = OrderStages({{"zeta", {}}, {"alpha", {}}, {"mid", {}}});
  ASSERT_TRUE(stages.ok());
  EXPECT_THAT(*stages, ElementsAre(ElementsAre("alpha", "mid", "zeta")));
}

TEST(OrderStages, APoolWaitsForItsLatestDependency) {
  // b depends on a (stage 0) and c (stage 1): b goes in stage 2, not 1.
  Result<Stages> stages = OrderStages({{"a", {}}, {"c", {"a"}}, {"b", {"a", "c", "a"}}});
  ASSERT_TRUE(stages.ok());
  EXPECT_THAT(*stages, ElementsAre(ElementsAre("a"), ElementsAre("c"), ElementsAre("b")));
}

TEST(OrderStages, SameInputInAnyOrderGivesTheSameStages) {
  Result<Stages> one = OrderStages({{"x", {"y"}}, {"y", {}}, {"w", {}}});
  Result<Stages> two = OrderStages({{"w", {}}, {"y", {}}, {"x", {"y"}}});
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ(*one, *two);
}

TEST(OrderStages, EmptyInputHasNoStages) {
  Result<Stages> stages = OrderStages({});
  ASSERT_TRUE(stages.ok());
  EXPECT_TRUE(stages->empty());
}

TEST(OrderStages, CycleIsRefusedNamingThePoolsOnIt) {
  Result<Stages> stages = OrderStages({
      {"edge", {}},
      {"a", {"edge", "c"}},
      {"b", {"a"}},
      {"c", {"b"}},
      {"d", {"c"}},  // behind the cycle, not on it
  });
  ASSERT_FALSE(stages.ok());
  EXPECT_EQ(stages.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(stages.status().message(), HasSubstr("cycle: a -> c -> b -> a"));
  EXPECT_THAT(stages.status().message(), ::testing::Not(HasSubstr("d ->")));
  EXPECT_THAT(stages.status().message(), ::testing::Not(HasSubstr("edge")));
}

TEST(OrderStages, TwoPoolCycleIsRefused) {
  Result<Stages> stages = OrderStages({{"x", {"y"}}, {"y", {"x"}}});
  ASSERT_FALSE(stages.ok());
  EXPECT_THAT(stages.status().message(), HasSubstr("x -> y -> x"));
}

TEST(OrderStages, RefusesSelfUnknownDuplicateAndEmptyNames) {
  Result<Stages> self = OrderStages({{"a", {"a"}}});
  ASSERT_FALSE(self.ok());
  EXPECT_THAT(self.status().message(), HasSubstr("\"a\" depends on itself"));

  Result<Stages> unknown = OrderStages({{"chat", {"chat-db"}}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("\"chat\" depends on \"chat-db\", which is not part of this rollout"));

  Result<Stages> twice = OrderStages({{"a", {}}, {"a", {}}});
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.status().message(), HasSubstr("\"a\" is listed twice"));

  Result<Stages> empty = OrderStages({{"", {}}});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace topos::rollout
