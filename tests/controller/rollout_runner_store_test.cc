// What a rollout runner writes: a rollout stored whole by an earlier
// controller gets its hosts moved to rows of their own with the first
// write, and a later write leaves the rows of hosts it did not change alone.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "controller/deploy/step_tracker.h"
#include "controller/hub/agent_hub.h"
#include "controller/hub/report_writer.h"
#include "controller/rollout/rollout_codec.h"
#include "controller/rollout/rollout_record.h"
#include "controller/rollout/rollout_runner.h"
#include "controller/store/sqlite_store.h"
#include "tests/controller/rollout_sample.h"
#include "tests/support/temp_dir.h"

namespace topos::rollout {
namespace {

using ::testing::ElementsAre;
namespace tc = topos::controller;

// Three hosts in two pools, none of them connected: the runner's first
// round finds them offline and stores that.
v1::Rollout ThreeHosts() {
  v1::Rollout rollout = SampleRollout(
      {{"web", {"w1.example.com", "w2.example.com"}}, {"db", {"d1.example.com"}}});
  rollout.set_created_at_unix_ms(ToUnixMs(Clock::now()));
  return rollout;
}

class RolloutRunnerStore : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = tc::SqliteStore::Open(dir_.path() / "state.db");
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
    reports_ = std::make_unique<tc::ReportWriter>(*store_, std::chrono::milliseconds(50));
    hub_ = std::make_unique<tc::AgentHub>(*reports_);
    steps_ = std::make_unique<tc::StepTracker>(*hub_);
  }

  // Loads the stored rollout as a restarted controller does and runs it
  // until it has stored an event after `seq`.
  std::unique_ptr<RolloutRunner> Run(std::uint64_t seq) {
    auto row = store_->GetRollout("r-1");
    EXPECT_TRUE(row.ok()) << row.status().message();
    auto record = ReadStoredRollout(*row);
    EXPECT_TRUE(record.ok()) << record.status().message();
    auto runner = RolloutRunner::Load({*store_, *steps_, *hub_}, *record, seq);
    EXPECT_TRUE(runner.ok()) << runner.status().message();
    (*runner)->Start();
    (*runner)->WaitAfter(seq, std::chrono::seconds(10));
    EXPECT_GT((*runner)->last_seq(), seq);
    return std::move(*runner);
  }

  tc::RolloutRecord Stored() {
    auto row = store_->GetRollout("r-1");
    EXPECT_TRUE(row.ok()) << row.status().message();
    return row.ok() ? *row : tc::RolloutRecord{};
  }

  test_support::TempDir dir_{"topos-runner-store-test"};
  std::unique_ptr<tc::SqliteStore> store_;
  std::unique_ptr<tc::ReportWriter> reports_;
  std::unique_ptr<tc::AgentHub> hub_;
  std::unique_ptr<tc::StepTracker> steps_;
};

TEST_F(RolloutRunnerStore, ARolloutStoredWholeGetsItsHostsMovedToRowsLosingNone) {
  // d1 was already due and offline: the first round changes only w1 and
  // w2, yet d1 must reach a row of its own too.
  v1::Rollout whole = ThreeHosts();
  v1::RolloutHost& d1 = *whole.mutable_pools(1)->mutable_hosts(0);
  d1.set_offline_since_unix_ms(ToUnixMs(Clock::now()));
  d1.set_due_since_unix_ms(d1.offline_since_unix_ms());
  tc::RolloutRecord old_form{"r-1", "running", false, Clock::now(), whole.SerializeAsString(), {}};
  ASSERT_TRUE(store_->CreateRollout(old_form, {{1, "started"}}, {}).ok());

  auto runner = Run(1);
  runner->Stop();

  const tc::RolloutRecord stored = Stored();
  ASSERT_EQ(stored.hosts.size(), 3u);
  v1::Rollout header;
  ASSERT_TRUE(header.ParseFromString(stored.snapshot));
  EXPECT_EQ(header.pools(0).hosts_size() + header.pools(1).hosts_size(), 0);
  auto record = ReadStoredRollout(stored);
  ASSERT_TRUE(record.ok()) << record.status().message();
  std::vector<std::string> offline;
  for (const auto& pool : record->pools()) {
    for (const auto& host : pool.hosts()) {
      if (host.offline_since_unix_ms() != 0) offline.push_back(host.host_fqdn());
    }
  }
  EXPECT_THAT(offline, ElementsAre("w1.example.com", "w2.example.com", "d1.example.com"));
}

TEST_F(RolloutRunnerStore, AWriteLeavesTheRowsOfUnchangedHostsAlone) {
  v1::Rollout rollout = ThreeHosts();
  tc::RolloutRecord row{"r-1", "running", false, Clock::now(), SerializeHeader(rollout),
                        HostRecords(rollout)};
  ASSERT_TRUE(store_->CreateRollout(row, {{1, "started"}}, {}).ok());
  auto runner = Run(1);  // every host stored offline

  // Behind the runner's back, mark d1's row; a pause changes no host, so
  // the runner must not write d1 again.
  tc::RolloutRecord marked = Stored();
  v1::RolloutHost d1;
  ASSERT_TRUE(d1.ParseFromString(marked.hosts[2].host));
  d1.set_reason("marked by the test");
  marked.hosts = {{1, 0, d1.SerializeAsString()}};
  ASSERT_TRUE(store_->SaveRollout(marked, {}).ok());

  v1::ControlRolloutRequest pause;
  pause.set_id("r-1");
  pause.set_action(v1::ROLLOUT_PAUSE);
  auto paused = runner->Control(pause, "tester");
  ASSERT_TRUE(paused.ok()) << paused.status().message();
  runner->Stop();

  auto record = ReadStoredRollout(Stored());
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_EQ(record->state(), "paused");
  EXPECT_EQ(record->pools(1).hosts(0).reason(), "marked by the test");
  EXPECT_NE(record->pools(0).hosts(0).offline_since_unix_ms(), 0);
}

}  // namespace
}  // namespace topos::rollout
