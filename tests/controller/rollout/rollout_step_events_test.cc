// The mapping from a host deploy's events to the rollout's step events
// (controller/rollout/rollout_step_events.h): which events the rollout's log
// keeps, with what kind and message.
#include "controller/rollout/rollout_step_events.h"

#include <gtest/gtest.h>

namespace topos::rollout {
namespace {

v1::RunStep StartServiceStep() {
  v1::RunStep step;
  step.set_step_id("s1");
  step.set_kind(v1::START_SERVICE);
  step.set_service("chat");
  return step;
}

// A final (or running) update of the start step in `state`.
v1::DeployEvent Update(v1::StepState state, std::string error = "", std::string summary = "") {
  v1::DeployEvent event;
  *event.mutable_step() = StartServiceStep();
  event.mutable_update()->set_step_id("s1");
  event.mutable_update()->set_state(state);
  event.mutable_update()->mutable_result()->set_error(std::move(error));
  event.mutable_update()->mutable_result()->set_summary(std::move(summary));
  return event;
}

TEST(RolloutStepEvents, KindNamesEachFinalState) {
  EXPECT_EQ(StepEventKind(v1::STEP_SUCCEEDED), "step-succeeded");
  EXPECT_EQ(StepEventKind(v1::STEP_PENDING), "step-pending");
  EXPECT_EQ(StepEventKind(v1::STEP_CANCELLED), "step-cancelled");
  EXPECT_EQ(StepEventKind(v1::STEP_FAILED), "step-failed");
  // Anything else counts as a failure.
  EXPECT_EQ(StepEventKind(v1::STEP_RUNNING), "step-failed");
  EXPECT_EQ(StepEventKind(v1::STEP_STATE_UNSPECIFIED), "step-failed");
}

TEST(RolloutStepEvents, PlannedStepStarts) {
  v1::DeployEvent event;
  *event.mutable_step() = StartServiceStep();
  event.set_message("start_service chat");
  auto out = StepEvent(event);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->kind(), "step-started");
  EXPECT_EQ(out->message(), "start_service chat");
  EXPECT_EQ(out->step_kind(), v1::START_SERVICE);
  EXPECT_EQ(out->service(), "chat");
  // The runner fills these in.
  EXPECT_TRUE(out->host_fqdn().empty());
  EXPECT_TRUE(out->rollout_id().empty());
  EXPECT_EQ(out->seq(), 0u);
}

TEST(RolloutStepEvents, EachFinalStateGivesItsEventWithStepKindAndService) {
  const std::pair<v1::StepState, const char*> cases[] = {
      {v1::STEP_SUCCEEDED, "step-succeeded"},
      {v1::STEP_FAILED, "step-failed"},
      {v1::STEP_PENDING, "step-pending"},
      {v1::STEP_CANCELLED, "step-cancelled"},
  };
  for (const auto& [state, kind] : cases) {
    SCOPED_TRACE(kind);
    auto out = StepEvent(Update(state));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(out->kind(), kind);
    EXPECT_EQ(out->step_kind(), v1::START_SERVICE);
    EXPECT_EQ(out->service(), "chat");
    EXPECT_EQ(out->message(), "start_service chat");
  }
}

TEST(RolloutStepEvents, MessageAddsTheErrorBeforeTheSummary) {
  auto failed = StepEvent(Update(v1::STEP_FAILED, "exit status 3", "ignored"));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->message(), "start_service chat: exit status 3");

  auto succeeded = StepEvent(Update(v1::STEP_SUCCEEDED, "", "pid 42"));
  ASSERT_TRUE(succeeded.has_value());
  EXPECT_EQ(succeeded->message(), "start_service chat: pid 42");
}

TEST(RolloutStepEvents, RunningUpdatesAndOutputGiveNoEvent) {
  EXPECT_FALSE(StepEvent(Update(v1::STEP_RUNNING)).has_value());
  v1::DeployEvent output = Update(v1::STEP_RUNNING);
  output.mutable_update()->set_output("line 1\n");
  EXPECT_FALSE(StepEvent(output).has_value());
  EXPECT_FALSE(StepEvent(Update(v1::STEP_STATE_UNSPECIFIED)).has_value());
}

TEST(RolloutStepEvents, ClosingSummaryAndEventsWithoutAStepGiveNoEvent) {
  v1::DeployEvent summary;
  summary.set_done(true);
  summary.set_ok(false);
  summary.set_message("1 of 3 steps failed");
  EXPECT_FALSE(StepEvent(summary).has_value());

  // A done event naming a step but with no update is a summary too.
  v1::DeployEvent done_with_step = summary;
  *done_with_step.mutable_step() = StartServiceStep();
  EXPECT_FALSE(StepEvent(done_with_step).has_value());

  // An update about no step.
  v1::DeployEvent no_step;
  no_step.mutable_update()->set_state(v1::STEP_FAILED);
  EXPECT_FALSE(StepEvent(no_step).has_value());
}

}  // namespace
}  // namespace topos::rollout
