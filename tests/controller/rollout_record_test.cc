// A rollout's record stored as a header and one row per host reads back
// exactly, a record stored whole by an earlier controller still reads, and
// damaged rows are refused with what is wrong named.
#include "controller/rollout/rollout_record.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controller/rollout/rollout_codec.h"
#include "tests/controller/rollout_sample.h"

namespace topos::rollout {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace tc = topos::controller;

v1::Rollout TwoPools() { return SampleRollout({{"web", {"w1", "w2"}}, {"db", {"d1"}}}); }

std::vector<std::string> HostNames(const v1::Rollout& rollout) {
  std::vector<std::string> names;
  for (const auto& pool : rollout.pools()) {
    for (const auto& host : pool.hosts()) names.push_back(pool.name() + "/" + host.host_fqdn());
  }
  return names;
}

TEST(RolloutRecord, HeaderLeavesTheHostsOutAndTheRecordAsItWas) {
  v1::Rollout rollout = TwoPools();
  const std::string whole = rollout.SerializeAsString();
  const std::string header = SerializeHeader(rollout);
  EXPECT_EQ(rollout.SerializeAsString(), whole);
  v1::Rollout parsed;
  ASSERT_TRUE(parsed.ParseFromString(header));
  ASSERT_EQ(parsed.pools_size(), 2);
  EXPECT_EQ(parsed.pools(1).name(), "db");
  EXPECT_EQ(parsed.pools(0).hosts_size() + parsed.pools(1).hosts_size(), 0);
}

TEST(RolloutRecord, HeaderAndHostRowsReadBackAsTheRecord) {
  v1::Rollout rollout = TwoPools();
  rollout.mutable_pools(0)->mutable_hosts(1)->set_reason("hook exited 1");
  const auto rows = HostRecords(rollout);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].pool, 1);
  EXPECT_EQ(rows[2].position, 0);
  tc::RolloutRecord stored{"r-1", "running", false, {}, SerializeHeader(rollout), rows};
  auto back = ReadStoredRollout(stored);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->SerializeAsString(), rollout.SerializeAsString());
}

TEST(RolloutRecord, ARecordStoredWholeByAnEarlierControllerStillReads) {
  v1::Rollout rollout = TwoPools();
  tc::RolloutRecord stored{"r-1", "running", false, {}, rollout.SerializeAsString(), {}};
  auto back = ReadStoredRollout(stored);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_THAT(HostNames(*back), ElementsAre("web/w1", "web/w2", "db/d1"));
}

TEST(RolloutRecord, DamagedRowsAreRefusedWithTheRolloutAndWhatIsWrongNamed) {
  v1::Rollout rollout = TwoPools();
  const std::string header = SerializeHeader(rollout);
  auto rows = HostRecords(rollout);

  auto unknown_pool = rows;
  unknown_pool[2].pool = 5;
  auto read = ReadStoredRollout({"r-1", "running", false, {}, header, unknown_pool});
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(read.status().message(), HasSubstr("rollout r-1"));
  EXPECT_THAT(read.status().message(), HasSubstr("pool 5, but the rollout has 2 pools"));

  auto gap = rows;
  gap.erase(gap.begin());  // web's host 0 missing
  read = ReadStoredRollout({"r-1", "running", false, {}, header, gap});
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.status().message(), HasSubstr("pool web has a stored host at position 1"));

  auto garbage = rows;
  garbage[1].host = "\xff\xff\xff";
  read = ReadStoredRollout({"r-1", "running", false, {}, header, garbage});
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.status().message(), HasSubstr("host 1 of pool web does not parse"));

  read = ReadStoredRollout({"r-1", "running", false, {}, "\xff\xff", rows});
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.status().message(), HasSubstr("rollout r-1: its stored record does not parse"));
}

TEST(RolloutRecord, WriteProgressNamesOnlyTheHostsItChanged) {
  v1::Rollout rollout = TwoPools();
  auto progress = ReadProgress(rollout);
  ASSERT_TRUE(progress.ok()) << progress.status().message();
  std::vector<std::pair<int, int>> changed;
  WriteProgress(*progress, rollout, &changed);
  EXPECT_TRUE(changed.empty());

  progress->pools[0].hosts[1].phase = HostPhase::kRunning;
  progress->pools[1].hosts[0].offline_since = FromUnixMs(1'800'000'000'000);
  WriteProgress(*progress, rollout, &changed);
  EXPECT_THAT(changed, ElementsAre(std::pair(0, 1), std::pair(1, 0)));
  EXPECT_EQ(rollout.pools(0).hosts(1).phase(), "running");
  EXPECT_EQ(rollout.pools(1).hosts(0).offline_since_unix_ms(), 1'800'000'000'000);
}

}  // namespace
}  // namespace topos::rollout
