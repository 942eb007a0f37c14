#include "controller/rollout/strategy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace topos::rollout {
namespace {

using ::testing::HasSubstr;
using Unit = MaxUnavailable::Unit;

MaxUnavailable Hosts(int n) { return {Unit::kHosts, n}; }
MaxUnavailable Percent(int p) { return {Unit::kPercent, p}; }

TEST(WindowSize, CountIsTheWindowCappedAtThePool) {
  EXPECT_EQ(WindowSize(Hosts(1), 10), 1);
  EXPECT_EQ(WindowSize(Hosts(3), 10), 3);
  EXPECT_EQ(WindowSize(Hosts(10), 10), 10);
  EXPECT_EQ(WindowSize(Hosts(50), 10), 10);
}

TEST(WindowSize, PercentRoundsDownButNeverBelowOne) {
  EXPECT_EQ(WindowSize(Percent(10), 15), 1);  // 1.5 -> 1
  EXPECT_EQ(WindowSize(Percent(10), 25), 2);  // 2.5 -> 2
  EXPECT_EQ(WindowSize(Percent(10), 20), 2);  // exactly 2
  EXPECT_EQ(WindowSize(Percent(10), 19), 1);  // 1.9 -> 1
  EXPECT_EQ(WindowSize(Percent(10), 5), 1);   // 0.5 -> raised to 1
  EXPECT_EQ(WindowSize(Percent(1), 1), 1);    // 0.01 -> raised to 1
  EXPECT_EQ(WindowSize(Percent(50), 3), 1);   // 1.5 -> 1
  EXPECT_EQ(WindowSize(Percent(34), 3), 1);   // 1.02 -> 1
  EXPECT_EQ(WindowSize(Percent(67), 3), 2);   // 2.01 -> 2
  EXPECT_EQ(WindowSize(Percent(100), 7), 7);
  EXPECT_EQ(WindowSize(Percent(99), 7), 6);  // 6.93 -> 6
}

TEST(WindowSize, EmptyPoolHasNoWindow) {
  EXPECT_EQ(WindowSize(Hosts(3), 0), 0);
  EXPECT_EQ(WindowSize(Percent(50), 0), 0);
}

TEST(ParseMaxUnavailable, AcceptsCountsAndPercentages) {
  Result<MaxUnavailable> count = ParseMaxUnavailable("3");
  ASSERT_TRUE(count.ok()) << count.status().message();
  EXPECT_EQ(*count, Hosts(3));
  Result<MaxUnavailable> percent = ParseMaxUnavailable("10%");
  ASSERT_TRUE(percent.ok()) << percent.status().message();
  EXPECT_EQ(*percent, Percent(10));
  EXPECT_EQ(*ParseMaxUnavailable("1"), Hosts(1));
  EXPECT_EQ(*ParseMaxUnavailable("1%"), Percent(1));
  EXPECT_EQ(*ParseMaxUnavailable("100%"), Percent(100));
  EXPECT_EQ(*ParseMaxUnavailable("250"), Hosts(250));
}

TEST(ParseMaxUnavailable, RefusesZeroNegativeOverHundredPercentAndGarbage) {
  for (const char* bad : {"0", "0%", "-1", "-5%", "101%", "1000%", "", "%", "abc", "3x", "2.5",
                          "2.5%", " 3", "3 ", "+3", "%10", "10%%", "99999999999999999999"}) {
    Result<MaxUnavailable> r = ParseMaxUnavailable(bad);
    ASSERT_FALSE(r.ok()) << "accepted \"" << bad << "\"";
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("--max-unavailable"));
    EXPECT_THAT(r.status().message(), HasSubstr("\"" + std::string(bad) + "\""));
    EXPECT_THAT(r.status().message(), HasSubstr("like 25%"));
  }
}

TEST(ParsePercent, AcceptsZeroToHundredWithOrWithoutPercentSign) {
  EXPECT_EQ(*ParsePercent("0", "--failure-threshold"), 0);
  EXPECT_EQ(*ParsePercent("0%", "--failure-threshold"), 0);
  EXPECT_EQ(*ParsePercent("20", "--failure-threshold"), 20);
  EXPECT_EQ(*ParsePercent("20%", "--failure-threshold"), 20);
  EXPECT_EQ(*ParsePercent("100%", "--failure-threshold"), 100);
}

TEST(ParsePercent, RefusesOutOfRangeAndGarbageNamingTheFlag) {
  for (const char* bad : {"-1", "-1%", "101", "101%", "", "%", "twenty", "20 %", "20.5", "1e2"}) {
    Result<int> r = ParsePercent(bad, "--failure-threshold");
    ASSERT_FALSE(r.ok()) << "accepted \"" << bad << "\"";
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("--failure-threshold: \"" + std::string(bad)));
    EXPECT_THAT(r.status().message(), HasSubstr("0 to 100"));
  }
}

TEST(Describe, ReadsLikeTheFlag) {
  EXPECT_EQ(Describe(Hosts(1)), "1 host");
  EXPECT_EQ(Describe(Hosts(3)), "3 hosts");
  EXPECT_EQ(Describe(Percent(10)), "10%");
}

TEST(ValidateStrategy, DefaultsAreValid) {
  RolloutStrategy s;
  EXPECT_TRUE(ValidateStrategy(s).ok());
  EXPECT_EQ(s.max_unavailable, Hosts(1));
  EXPECT_EQ(s.failure_threshold_percent, 0);
  EXPECT_EQ(s.canary, 0);
}

TEST(ValidateStrategy, RefusesContradictionsNamingTheFlag) {
  struct Case {
    std::function<void(RolloutStrategy&)> change;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {[](RolloutStrategy& s) { s.canary = -1; }, "--canary"},
      {[](RolloutStrategy& s) {
         s.canary = 2;
         s.canary_failures_allowed = -1;
       },
       "--canary-failures-allowed"},
      {[](RolloutStrategy& s) { s.canary_failures_allowed = 1; }, "without --canary"},
      {[](RolloutStrategy& s) {
         s.canary = 2;
         s.canary_failures_allowed = 2;
       },
       "lets every canary fail"},
      {[](RolloutStrategy& s) { s.pause_after_canary = true; }, "--pause-after-canary"},
      {[](RolloutStrategy& s) { s.failure_threshold_percent = 101; }, "--failure-threshold"},
      {[](RolloutStrategy& s) { s.failure_threshold_percent = -1; }, "--failure-threshold"},
      {[](RolloutStrategy& s) { s.max_unavailable = Hosts(0); }, "--max-unavailable"},
      {[](RolloutStrategy& s) { s.max_unavailable = Percent(101); }, "--max-unavailable"},
      {[](RolloutStrategy& s) { s.offline_timeout = std::chrono::seconds(0); },
       "--offline-timeout"},
      {[](RolloutStrategy& s) { s.step_timeout = std::chrono::seconds(-1); }, "--step-timeout"},
  };
  for (const Case& c : cases) {
    RolloutStrategy s;
    c.change(s);
    Status status = ValidateStrategy(s);
    ASSERT_FALSE(status.ok()) << c.flag;
    EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr(c.flag));
  }
  RolloutStrategy ok;
  ok.canary = 3;
  ok.canary_failures_allowed = 2;
  ok.pause_after_canary = true;
  ok.failure_threshold_percent = 100;
  EXPECT_TRUE(ValidateStrategy(ok).ok());
}

}  // namespace
}  // namespace topos::rollout
