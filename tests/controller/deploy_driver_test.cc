// The rollout's host deploys, run by one thread however many hosts start
// at once: a 10,000-host window used to mean 10,000 controller threads and
// a controller that answered nothing for minutes.
#include "controller/deploy/deploy_driver.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/controller/recording_fleet.h"

namespace topos::controller {
namespace {

using test_support::RecordingFleet;
using test_support::Step;

int ThreadsOfThisProcess() {
  int threads = 0;
  if (DIR* dir = ::opendir("/proc/self/task")) {
    while (dirent* entry = ::readdir(dir)) threads += entry->d_name[0] != '.';
    ::closedir(dir);
  }
  return threads;
}

// Waits up to 10 s for `condition`.
template <typename Condition>
bool Eventually(Condition condition) {
  for (int i = 0; i < 1000; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

std::vector<topos::v1::RunStep> TwoSteps(int host) {
  const std::string prefix = "h" + std::to_string(host) + "-";
  return {Step(prefix + "install"), Step(prefix + "start")};
}

TEST(DeployDriverTest, RunsTwoThousandHostsOnOneThread) {
  constexpr int kHosts = 2000;
  RecordingFleet fleet(kHosts);
  const int threads_before = ThreadsOfThisProcess();
  DeployDriver driver(fleet.tracker(), std::chrono::seconds(30));
  std::atomic<int> succeeded{0}, failed{0};
  for (int i = 0; i < kHosts; ++i) {
    driver.Start(RecordingFleet::Host(i), TwoSteps(i), [](topos::v1::DeployEvent) {},
                 [&](bool ok) { ++(ok ? succeeded : failed); });
  }
  ASSERT_TRUE(Eventually([&] { return fleet.connection(kHosts - 1).RunStepIds().size() == 1; }));
  EXPECT_LE(ThreadsOfThisProcess(), threads_before + 1);
  for (int i = 0; i < kHosts; ++i) fleet.Answer(i, TwoSteps(i)[0].step_id(), topos::v1::STEP_SUCCEEDED);
  // Each second step goes out as soon as the first succeeded.
  ASSERT_TRUE(Eventually([&] { return fleet.connection(kHosts - 1).RunStepIds().size() == 2; }));
  for (int i = 0; i < kHosts; ++i) fleet.Answer(i, TwoSteps(i)[1].step_id(), topos::v1::STEP_SUCCEEDED);
  ASSERT_TRUE(Eventually([&] { return succeeded == kHosts; })) << succeeded << " succeeded";
  EXPECT_EQ(failed, 0);
  EXPECT_LE(ThreadsOfThisProcess(), threads_before + 1);
  EXPECT_EQ(fleet.tracker().in_flight(), 0u);
}

TEST(DeployDriverTest, EventsAndTheEndOfEachHostReachItsOwnCallbacks) {
  RecordingFleet fleet(2);
  DeployDriver driver(fleet.tracker(), std::chrono::seconds(30));
  std::mutex mutex;
  std::vector<std::string> events[2];
  std::optional<bool> result[2];
  for (int i = 0; i < 2; ++i) {
    driver.Start(
        RecordingFleet::Host(i), TwoSteps(i),
        [&, i](topos::v1::DeployEvent event) {
          std::lock_guard lock(mutex);
          events[i].push_back(event.done() ? "done" : event.step().step_id());
        },
        [&, i](bool ok) {
          std::lock_guard lock(mutex);
          result[i] = ok;
        });
  }
  ASSERT_TRUE(Eventually([&] { return fleet.connection(1).RunStepIds().size() == 1; }));
  fleet.Answer(0, "h0-install", topos::v1::STEP_SUCCEEDED);
  fleet.Answer(1, "h1-install", topos::v1::STEP_FAILED);
  ASSERT_TRUE(Eventually([&] { return fleet.connection(0).RunStepIds().size() == 2; }));
  fleet.Answer(0, "h0-start", topos::v1::STEP_SUCCEEDED);
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(mutex);
    return result[0].has_value() && result[1].has_value();
  }));
  std::lock_guard lock(mutex);
  EXPECT_TRUE(*result[0]);
  EXPECT_FALSE(*result[1]);
  EXPECT_EQ(events[0], (std::vector<std::string>{"h0-install", "h0-install", "h0-start", "h0-start",
                                                 "done"}));
  EXPECT_EQ(events[1], (std::vector<std::string>{"h1-install", "h1-install", "done"}));
  EXPECT_EQ(fleet.connection(1).RunStepIds().size(), 1u) << "a failed host went on";
}

TEST(DeployDriverTest, CancelReachesTheAgentAtOnce) {
  RecordingFleet fleet(1);
  DeployDriver driver(fleet.tracker(), std::chrono::seconds(30));
  std::atomic<int> done{0};
  driver.Start(RecordingFleet::Host(0), TwoSteps(0), [](topos::v1::DeployEvent) {},
               [&](bool ok) { done = ok ? 1 : -1; });
  ASSERT_TRUE(Eventually([&] { return fleet.connection(0).RunStepIds().size() == 1; }));
  driver.Cancel(RecordingFleet::Host(0));
  ASSERT_TRUE(Eventually([&] { return fleet.connection(0).CancelStepIds().size() == 1; }));
  fleet.Answer(0, "h0-install", topos::v1::STEP_CANCELLED);
  ASSERT_TRUE(Eventually([&] { return done != 0; }));
  EXPECT_EQ(done, -1);
  EXPECT_EQ(fleet.connection(0).RunStepIds().size(), 1u);
}

TEST(DeployDriverTest, StopAbandonsRunningHostsWithoutCancellingOrReporting) {
  RecordingFleet fleet(3);
  std::atomic<int> done_calls{0};
  {
    DeployDriver driver(fleet.tracker(), std::chrono::seconds(30));
    for (int i = 0; i < 3; ++i) {
      driver.Start(RecordingFleet::Host(i), TwoSteps(i), [](topos::v1::DeployEvent) {},
                   [&](bool) { ++done_calls; });
    }
    ASSERT_TRUE(Eventually([&] { return fleet.tracker().in_flight() == 3; }));
    driver.Stop();
    EXPECT_EQ(fleet.tracker().in_flight(), 0u);
    fleet.Answer(0, "h0-install", topos::v1::STEP_SUCCEEDED);  // after the stop: nobody listens
    driver.Start(RecordingFleet::Host(0), TwoSteps(0), [](topos::v1::DeployEvent) {},
                 [&](bool) { ++done_calls; });
  }
  EXPECT_EQ(done_calls, 0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(fleet.connection(i).CancelStepIds().empty());
    EXPECT_EQ(fleet.connection(i).RunStepIds().size(), 1u);
  }
}

TEST(DeployDriverTest, AHostAlreadyRunningIsNotStartedTwice) {
  RecordingFleet fleet(1);
  DeployDriver driver(fleet.tracker(), std::chrono::seconds(30));
  std::atomic<int> done_calls{0};
  for (int round = 0; round < 2; ++round) {
    driver.Start(RecordingFleet::Host(0), TwoSteps(0), [](topos::v1::DeployEvent) {},
                 [&](bool) { ++done_calls; });
  }
  ASSERT_TRUE(Eventually([&] { return fleet.connection(0).RunStepIds().size() == 1; }));
  fleet.Answer(0, "h0-install", topos::v1::STEP_SUCCEEDED);
  ASSERT_TRUE(Eventually([&] { return fleet.connection(0).RunStepIds().size() == 2; }));
  fleet.Answer(0, "h0-start", topos::v1::STEP_SUCCEEDED);
  ASSERT_TRUE(Eventually([&] { return done_calls == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(done_calls, 1);
  EXPECT_EQ(fleet.connection(0).RunStepIds().size(), 2u);
}

}  // namespace
}  // namespace topos::controller
