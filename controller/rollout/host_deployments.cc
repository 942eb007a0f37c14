#include "controller/rollout/host_deployments.h"

#include <chrono>

#include "controller/deploy/host_deploy.h"
#include "controller/rollout/rollout_step_events.h"

namespace topos::rollout {
namespace {

// A step's outcome may arrive this long after its deadline before the
// deploy gives up on it (the agent cancels at the deadline itself).
constexpr std::chrono::seconds kOutcomeGrace{30};

}  // namespace

HostDeployments::HostDeployments(controller::Store& store, controller::StepTracker& steps,
                                 std::string rollout_id, std::mutex& mutex, Post post)
    : store_(store),
      steps_(steps),
      rollout_id_(std::move(rollout_id)),
      mutex_(mutex),
      post_(std::move(post)) {}

void HostDeployments::LaunchLocked(const std::string& host) { StartLocked(host, Recorded()); }

void HostDeployments::ResumeLocked(const std::vector<std::string>& hosts) {
  std::map<std::string, Recorded> recorded = RecordedStepsLocked();
  for (const auto& host : hosts) StartLocked(host, recorded[host]);
}

std::map<std::string, HostDeployments::Recorded> HostDeployments::RecordedStepsLocked() {
  std::map<std::string, Recorded> recorded;
  constexpr std::size_t kPage = 1000;
  std::uint64_t after = 0;
  for (;;) {
    auto rows = store_.ListRolloutEvents(rollout_id_, after, kPage);
    if (!rows.ok() || rows->empty()) break;
    for (const auto& row : *rows) {
      after = row.seq;
      v1::RolloutEvent event;
      if (!event.ParseFromString(row.event)) continue;
      if (event.kind() == "host-started") recorded[event.host_fqdn()] = {};
      if (event.kind() == "step-started") ++recorded[event.host_fqdn()].started;
      if (event.kind() == "step-succeeded") ++recorded[event.host_fqdn()].finished;
    }
  }
  return recorded;
}

void HostDeployments::StartLocked(const std::string& host, Recorded recorded) {
  if (running_.contains(host)) return;
  auto deployment = std::make_unique<Deployment>();
  Deployment* raw = deployment.get();
  std::vector<v1::RunStep> steps;
  std::string problem;
  auto stored = store_.GetRolloutHostSteps(rollout_id_, host);
  v1::RolloutHostSteps parsed;
  if (!stored.ok()) {
    problem = "its planned steps are not stored: " + stored.status().message();
  } else if (!parsed.ParseFromString(*stored)) {
    problem = "its stored steps are unreadable";
  } else {
    steps.assign(parsed.steps().begin(), parsed.steps().end());
  }
  if (recorded.started > 0 && problem.empty()) {
    Report resumed{host, std::nullopt, "", {}};
    resumed.step_event.set_kind("host-resumed");
    resumed.step_event.set_message(
        "steps sent again after a controller restart; " + std::to_string(recorded.finished) + " of " +
        std::to_string(steps.size()) + " had finished and are answered from the agent's journal");
    post_(std::move(resumed));
  }
  raw->thread = std::thread([this, raw, host, problem, recorded,
                             steps = std::move(steps)]() mutable {
    bool ok = false;
    std::string reason = problem;
    Recorded seen;
    if (problem.empty()) {
      controller::HostDeploy deploy(steps_, host, std::move(steps),
                                    [this, host, &reason, &seen, recorded](v1::DeployEvent event) {
                                      auto step_event = StepEvent(event);
                                      // The failed step's own error says more than the summary.
                                      if (event.done() && reason.empty()) reason = event.message();
                                      if (step_event && step_event->kind() != "step-started" &&
                                          step_event->kind() != "step-succeeded") {
                                        reason = step_event->message();
                                      }
                                      if (!step_event) return;
                                      // Skip what was stored before the restart.
                                      if (step_event->kind() == "step-started") {
                                        if (++seen.started <= recorded.started) return;
                                      } else if (++seen.finished <= recorded.finished) {
                                        return;
                                      }
                                      std::lock_guard lock(mutex_);
                                      post_({host, std::nullopt, "", std::move(*step_event)});
                                    });
      ok = deploy.Run(raw->cancel, kOutcomeGrace, &raw->abandon);
    }
    if (raw->abandon) return;
    std::lock_guard lock(mutex_);
    auto it = running_.find(host);
    if (it != running_.end() && it->second.get() == raw) {
      finished_.push_back(std::move(it->second));
      running_.erase(it);
    }
    post_({host, ok, ok ? "" : reason, {}});
  });
  running_[host] = std::move(deployment);
}

void HostDeployments::CancelLocked(const std::string& host) {
  auto it = running_.find(host);
  if (it != running_.end()) it->second->cancel = true;
}

void HostDeployments::CancelAllLocked() {
  for (auto& [host, deployment] : running_) deployment->cancel = true;
}

void HostDeployments::JoinFinishedLocked() {
  // A finished deployment's thread only has its return left to run.
  for (auto& deployment : finished_) {
    if (deployment->thread.joinable()) deployment->thread.join();
  }
  finished_.clear();
}

std::vector<std::unique_ptr<HostDeployments::Deployment>> HostDeployments::AbandonAllLocked() {
  std::vector<std::unique_ptr<Deployment>> all;
  for (auto& [host, deployment] : running_) {
    deployment->abandon = true;
    all.push_back(std::move(deployment));
  }
  running_.clear();
  for (auto& deployment : finished_) all.push_back(std::move(deployment));
  finished_.clear();
  return all;
}

void HostDeployments::Join(std::vector<std::unique_ptr<Deployment>>& deployments) {
  for (auto& deployment : deployments) {
    if (deployment->thread.joinable()) deployment->thread.join();
  }
}

}  // namespace topos::rollout
