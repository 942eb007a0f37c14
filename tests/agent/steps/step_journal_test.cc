// StepJournal: step outcomes and installed-service records on disk.
#include "agent/steps/step_journal.h"

#include "tests/agent/steps/steps_fixture.h"

namespace topos::agent::steps_test {
namespace {

using topos::v1::JournalEntry;

JournalEntry Entry(const std::string& id, topos::v1::StepState state, std::int64_t started_ms) {
  JournalEntry entry;
  entry.mutable_step()->set_step_id(id);
  entry.mutable_step()->set_kind(topos::v1::SETUP_LOCAL_STORE);
  entry.set_state(state);
  entry.set_started_at_unix_ms(started_ms);
  if (state != topos::v1::STEP_RUNNING) {
    entry.set_finished_at_unix_ms(started_ms + 5);
    entry.mutable_result()->set_summary("summary of " + id);
  }
  return entry;
}

using StepJournalTest = StepsTest;

TEST_F(StepJournalTest, WritesAndFindsAnEntry) {
  ASSERT_TRUE(journal_->Write(Entry("step-1", topos::v1::STEP_SUCCEEDED, 1000)).ok());
  auto found = journal_->Find("step-1");
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(found->state(), topos::v1::STEP_SUCCEEDED);
  EXPECT_EQ(found->result().summary(), "summary of step-1");
  EXPECT_EQ(found->started_at_unix_ms(), 1000);

  // A later write replaces the entry.
  ASSERT_TRUE(journal_->Write(Entry("step-1", topos::v1::STEP_FAILED, 2000)).ok());
  EXPECT_EQ(journal_->Find("step-1")->state(), topos::v1::STEP_FAILED);

  auto missing = journal_->Find("never-seen");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("never-seen is not in the journal"));
}

TEST_F(StepJournalTest, RecentListsNewestFirstUpToTheLimit) {
  ASSERT_TRUE(journal_->Write(Entry("b", topos::v1::STEP_SUCCEEDED, 2000)).ok());
  ASSERT_TRUE(journal_->Write(Entry("c", topos::v1::STEP_FAILED, 3000)).ok());
  ASSERT_TRUE(journal_->Write(Entry("a", topos::v1::STEP_RUNNING, 1000)).ok());

  auto all = journal_->Recent(10);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].step().step_id(), "c");
  EXPECT_EQ(all[1].step().step_id(), "b");
  EXPECT_EQ(all[2].step().step_id(), "a");

  auto two = journal_->Recent(2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].step().step_id(), "c");
  EXPECT_EQ(two[1].step().step_id(), "b");
}

TEST_F(StepJournalTest, EntriesLeftRunningAreInterruptedAfterReopening) {
  ASSERT_TRUE(journal_->Write(Entry("done", topos::v1::STEP_SUCCEEDED, 1000)).ok());
  ASSERT_TRUE(journal_->Write(Entry("cut-late", topos::v1::STEP_RUNNING, 3000)).ok());
  ASSERT_TRUE(journal_->Write(Entry("cut-early", topos::v1::STEP_RUNNING, 2000)).ok());
  EXPECT_TRUE(journal_->Interrupted().empty()) << "only what was RUNNING at Open counts";

  auto reopened = StepJournal::Open(state_dir_);
  ASSERT_TRUE(reopened.ok()) << reopened.status().message();
  auto interrupted = (*reopened)->Interrupted();
  ASSERT_EQ(interrupted.size(), 2u);
  EXPECT_EQ(interrupted[0].step().step_id(), "cut-early");  // oldest first: the order they ran
  EXPECT_EQ(interrupted[1].step().step_id(), "cut-late");
}

TEST_F(StepJournalTest, DamagedEntryIsReportedNotTrusted) {
  Spit(state_dir_ / "store" / "journal" / "broken.pb", "\xff\xff\xff not a protobuf");
  auto found = journal_->Find("broken");
  ASSERT_FALSE(found.ok());
  EXPECT_THAT(found.status().message(), HasSubstr("not a valid record"));
  EXPECT_TRUE(journal_->Recent(10).empty());
  auto reopened = StepJournal::Open(state_dir_);
  ASSERT_TRUE(reopened.ok()) << reopened.status().message();
  EXPECT_TRUE((*reopened)->Interrupted().empty());
}

TEST_F(StepJournalTest, RefusesStepIdsThatAreNotPlainFileNames) {
  for (const std::string& bad : std::vector<std::string>{"", ".hidden", "../escape", "a/b", "has space", "semi;colon",
                                std::string(129, 'a')}) {
    Status checked = CheckStepId(bad);
    EXPECT_EQ(checked.code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_THAT(checked.message(), HasSubstr("must be 1-128 characters")) << bad;

    Status written = journal_->Write(Entry(bad, topos::v1::STEP_SUCCEEDED, 1));
    EXPECT_EQ(written.code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_EQ(journal_->Find(bad).status().code(), Status::Code::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(fs::exists(state_dir_ / "store" / "escape.pb"));
  EXPECT_TRUE(Names(state_dir_ / "store" / "journal").empty());
  for (const std::string& good : std::vector<std::string>{"a", "Step_1.retry-2", std::string(128, 'z')}) {
    EXPECT_TRUE(CheckStepId(good).ok()) << good;
  }
}

TEST_F(StepJournalTest, RefusesServiceNamesThatAreNotUnitNames) {
  for (const std::string& bad : std::vector<std::string>{"", "Web", "-web", "web_1", "../etc", "a/b", "web.1",
                                std::string(64, 'a')}) {
    Status checked = CheckServiceName(bad);
    EXPECT_EQ(checked.code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_THAT(checked.message(), HasSubstr("must be 1-63 characters of a-z 0-9 -")) << bad;

    topos::v1::InstalledService record;
    record.set_name(bad);
    EXPECT_EQ(journal_->PutService(record).code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_EQ(journal_->GetService(bad).status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_EQ(journal_->DeleteService(bad).code(), Status::Code::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(Names(state_dir_ / "services").empty());
  for (const std::string& good : std::vector<std::string>{"web", "0web", "chat-edge-2", std::string(63, 'a')}) {
    EXPECT_TRUE(CheckServiceName(good).ok()) << good;
  }
}

TEST_F(StepJournalTest, KeepsServiceRecords) {
  auto missing = journal_->GetService("web");
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("web is not installed"));

  topos::v1::InstalledService web;
  web.set_name("web");
  web.set_version("1.0");
  web.set_should_run(true);
  topos::v1::InstalledService api;
  api.set_name("api");
  api.set_version("2.0");
  ASSERT_TRUE(journal_->PutService(web).ok());
  ASSERT_TRUE(journal_->PutService(api).ok());
  EXPECT_EQ(fs::status(state_dir_ / "services" / "web" / "record.pb").permissions(),
            fs::perms(0600));

  auto listed = journal_->ListServices();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].name(), "api");  // sorted by name
  EXPECT_EQ(listed[1].name(), "web");
  EXPECT_TRUE(listed[1].should_run());

  ASSERT_TRUE(journal_->DeleteService("web").ok());
  EXPECT_EQ(journal_->GetService("web").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(journal_->ListServices().size(), 1u);
  EXPECT_TRUE(journal_->DeleteService("web").ok()) << "deleting twice is fine";
}

}  // namespace
}  // namespace topos::agent::steps_test
