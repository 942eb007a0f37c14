// One host's planned steps, run one after another: what an operator's
// deploy and every host of a rollout rely on. The next step goes out only
// after the last succeeded; the first that does not ends the run and says
// why; a silent agent or a cancelled deploy ends it too, and a controller
// shutting down leaves the agent's step alone.
#include "controller/deploy/step_sequence.h"

#include <gtest/gtest.h>

#include <deque>

#include "tests/controller/recording_fleet.h"

namespace topos::controller {
namespace {

using test_support::RecordingFleet;
using test_support::Step;
using Clock = StepSequence::Clock;

class StepSequenceTest : public ::testing::Test {
 protected:
  // A sequence on host 0 whose updates are routed into `routed_` (the
  // owner's mailbox) and whose events are kept in `events_`.
  std::unique_ptr<StepSequence> Make(std::vector<topos::v1::RunStep> steps,
                                     std::chrono::seconds grace = std::chrono::seconds(0)) {
    auto sequence = std::make_unique<StepSequence>(
        fleet_.tracker(), RecordingFleet::Host(0), std::move(steps),
        [this](topos::v1::DeployEvent event) { events_.push_back(std::move(event)); }, grace);
    sequence->Begin([this](const topos::v1::StepUpdate& update) { routed_.push_back(update); },
                    start_);
    return sequence;
  }
  // The agent answers; the owner hands the routed update on.
  void Answer(StepSequence& sequence, const std::string& step_id, topos::v1::StepState state) {
    fleet_.Answer(0, step_id, state);
    while (!routed_.empty()) {
      sequence.OnUpdate(routed_.front(), start_);
      routed_.pop_front();
    }
  }
  const topos::v1::DeployEvent& Last() const { return events_.back(); }

  RecordingFleet fleet_{1};
  std::deque<topos::v1::StepUpdate> routed_;
  std::vector<topos::v1::DeployEvent> events_;
  Clock::time_point start_ = Clock::now();
};

TEST_F(StepSequenceTest, SendsEachStepOnlyAfterThePreviousSucceeded) {
  auto sequence = Make({Step("a"), Step("b"), Step("c")});
  EXPECT_EQ(fleet_.connection(0).RunStepIds(), (std::vector<std::string>{"a"}));
  Answer(*sequence, "a", topos::v1::STEP_RUNNING);
  EXPECT_EQ(fleet_.connection(0).RunStepIds(), (std::vector<std::string>{"a"}));
  Answer(*sequence, "a", topos::v1::STEP_SUCCEEDED);
  EXPECT_EQ(fleet_.connection(0).RunStepIds(), (std::vector<std::string>{"a", "b"}));
  Answer(*sequence, "b", topos::v1::STEP_SUCCEEDED);
  Answer(*sequence, "c", topos::v1::STEP_SUCCEEDED);
  EXPECT_EQ(fleet_.connection(0).RunStepIds(), (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE(sequence->finished());
  EXPECT_TRUE(sequence->ok());
  EXPECT_TRUE(Last().done());
  EXPECT_TRUE(Last().ok());
  EXPECT_EQ(Last().message(), "all 3 steps succeeded on host-0.test");
  // Per step: started, then each update; then the closing event.
  ASSERT_EQ(events_.size(), 3u + 4u + 1u);
  EXPECT_FALSE(events_[0].has_update());
  EXPECT_EQ(events_[0].step().step_id(), "a");
  EXPECT_EQ(events_[1].update().state(), topos::v1::STEP_RUNNING);
  EXPECT_EQ(events_[2].update().state(), topos::v1::STEP_SUCCEEDED);
  EXPECT_EQ(events_[3].step().step_id(), "b");
  EXPECT_FALSE(events_[3].has_update());
}

TEST_F(StepSequenceTest, StopsAtTheFirstStepThatFailsAndSaysWhichItWas) {
  auto sequence = Make({Step("a"), Step("b"), Step("c")});
  Answer(*sequence, "a", topos::v1::STEP_SUCCEEDED);
  Answer(*sequence, "b", topos::v1::STEP_FAILED);
  ASSERT_TRUE(sequence->finished());
  EXPECT_FALSE(sequence->ok());
  EXPECT_EQ(fleet_.connection(0).RunStepIds(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(Last().done());
  EXPECT_FALSE(Last().ok());
  EXPECT_EQ(Last().message(), "start_service svc did not succeed");
}

TEST_F(StepSequenceTest, AStepWaitingForApprovalEndsTheRunAndSaysSo) {
  auto sequence = Make({Step("a"), Step("b")});
  Answer(*sequence, "a", topos::v1::STEP_PENDING);
  ASSERT_TRUE(sequence->finished());
  EXPECT_FALSE(sequence->ok());
  EXPECT_EQ(Last().message(), "start_service svc is waiting for approval");
}

TEST_F(StepSequenceTest, IgnoresAnUpdateOfAStepThatIsNotTheCurrentOne) {
  auto sequence = Make({Step("a"), Step("b")});
  Answer(*sequence, "a", topos::v1::STEP_SUCCEEDED);
  const std::size_t before = events_.size();
  topos::v1::StepUpdate late;
  late.set_step_id("a");
  late.set_state(topos::v1::STEP_FAILED);
  sequence->OnUpdate(late, start_);
  EXPECT_EQ(events_.size(), before);
  EXPECT_FALSE(sequence->finished());
}

TEST_F(StepSequenceTest, NoStepsSucceedsAtOnce) {
  auto sequence = Make({});
  ASSERT_TRUE(sequence->finished());
  EXPECT_TRUE(sequence->ok());
  EXPECT_TRUE(fleet_.connection(0).RunStepIds().empty());
}

TEST_F(StepSequenceTest, ASilentAgentPastTheDeadlineIsAskedToCancelThenTheRunFails) {
  auto sequence = Make({Step("a", 10), Step("b")}, std::chrono::seconds(5));
  sequence->Tick(false, start_ + std::chrono::seconds(14));
  EXPECT_TRUE(fleet_.connection(0).CancelStepIds().empty()) << "cancelled before deadline + grace";
  sequence->Tick(false, start_ + std::chrono::seconds(16));
  EXPECT_EQ(fleet_.connection(0).CancelStepIds(), (std::vector<std::string>{"a"}));
  EXPECT_FALSE(sequence->finished()) << "the agent has 5 s to answer the cancel";
  sequence->Tick(false, start_ + std::chrono::seconds(22));
  ASSERT_TRUE(sequence->finished());
  EXPECT_FALSE(sequence->ok());
  EXPECT_EQ(Last().message(),
            "no outcome from host-0.test within the step's deadline (10 s); is the host online?");
  EXPECT_EQ(fleet_.tracker().in_flight(), 0u) << "the lost step is still tracked";
  EXPECT_EQ(fleet_.connection(0).RunStepIds(), (std::vector<std::string>{"a"}));
}

TEST_F(StepSequenceTest, CancellingAsksTheAgentAndTheAgentsAnswerEndsTheRun) {
  auto sequence = Make({Step("a"), Step("b")});
  sequence->Tick(true, start_);
  EXPECT_EQ(fleet_.connection(0).CancelStepIds(), (std::vector<std::string>{"a"}));
  sequence->Tick(true, start_ + std::chrono::seconds(1));
  EXPECT_EQ(fleet_.connection(0).CancelStepIds().size(), 1u) << "cancel sent twice";
  Answer(*sequence, "a", topos::v1::STEP_CANCELLED);
  ASSERT_TRUE(sequence->finished());
  EXPECT_FALSE(sequence->ok());
  EXPECT_EQ(fleet_.connection(0).RunStepIds(), (std::vector<std::string>{"a"}));
}

TEST_F(StepSequenceTest, ACancelledRunWhoseAgentNeverAnswersSaysItWasCancelled) {
  auto sequence = Make({Step("a")});
  sequence->Tick(true, start_);
  sequence->Tick(true, start_ + std::chrono::seconds(6));
  ASSERT_TRUE(sequence->finished());
  EXPECT_EQ(Last().message(), "deploy cancelled");
}

TEST_F(StepSequenceTest, AbandoningLeavesTheAgentsStepAloneAndReportsNothingMore) {
  auto sequence = Make({Step("a"), Step("b")});
  const std::size_t before = events_.size();
  sequence->Abandon();
  EXPECT_TRUE(sequence->finished());
  EXPECT_TRUE(fleet_.connection(0).CancelStepIds().empty());
  EXPECT_EQ(fleet_.tracker().in_flight(), 0u);
  Answer(*sequence, "a", topos::v1::STEP_SUCCEEDED);
  sequence->Tick(true, start_ + std::chrono::hours(1));
  EXPECT_EQ(events_.size(), before);
  EXPECT_EQ(fleet_.connection(0).RunStepIds(), (std::vector<std::string>{"a"}));
}

}  // namespace
}  // namespace topos::controller
