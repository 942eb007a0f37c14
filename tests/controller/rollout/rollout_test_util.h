// Helpers for the rollout core tests: a fake clock and short ways to build a
// rollout and feed it events.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "controller/rollout/engine.h"

namespace topos::rollout::testing {

// Time that moves only when a test says so.
class FakeClock {
 public:
  TimePoint now() const { return now_; }
  void Advance(std::chrono::seconds by) { now_ += by; }

 private:
  TimePoint now_ = TimePoint(std::chrono::hours(24 * 365 * 50));
};

// Hosts "<prefix>1" .. "<prefix>n".
inline std::vector<std::string> Hosts(const std::string& prefix, int n) {
  std::vector<std::string> hosts;
  for (int i = 1; i <= n; ++i) hosts.push_back(prefix + std::to_string(i));
  return hosts;
}

// A one-stage rollout of one pool "chat" with hosts c1..cn.
inline RolloutProgress OnePool(const RolloutStrategy& strategy, int n) {
  Result<RolloutProgress> p = NewRollout(strategy, {{"chat"}}, {{"chat", Hosts("c", n)}});
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? *p : RolloutProgress();
}

// Holds the progress of a rollout under test and applies events to it.
class Driver {
 public:
  explicit Driver(RolloutProgress progress) : progress_(std::move(progress)) {}

  // Next(now), stores the new progress and returns the hosts it started.
  std::vector<std::string> Step() {
    last_ = Next(progress_, clock.now());
    progress_ = last_.progress;
    return last_.start;
  }
  // In place, as the rollout runner applies them.
  void Finish(const std::string& host, bool ok) {
    Status status = RecordHostResult(progress_, host, ok, ok ? "" : "step failed");
    ASSERT_TRUE(status.ok()) << status.message();
  }
  void Offline(const std::string& host) {
    Status status = RecordHostOffline(progress_, host, clock.now());
    ASSERT_TRUE(status.ok()) << status.message();
  }
  void Online(const std::string& host) {
    Status status = RecordHostOnline(progress_, host);
    ASSERT_TRUE(status.ok()) << status.message();
  }
  // Applies a transition that must succeed (Pause, Resume, Abort).
  void Apply(const Result<RolloutProgress>& p) {
    ASSERT_TRUE(p.ok()) << p.status().message();
    progress_ = *p;
  }
  // Finishes every running host with `ok`, in order, then steps.
  std::vector<std::string> FinishRunning(bool ok) {
    for (const PoolProgress& pool : progress_.pools) {
      for (const HostProgress& h : pool.hosts) {
        if (h.phase == HostPhase::kRunning) Finish(h.host, ok);
      }
    }
    return Step();
  }

  const HostProgress& Host(const std::string& name) const {
    for (const PoolProgress& pool : progress_.pools) {
      for (const HostProgress& h : pool.hosts) {
        if (h.host == name) return h;
      }
    }
    ADD_FAILURE() << "no host " << name;
    static const HostProgress kNone;
    return kNone;
  }
  RunState state() const { return progress_.state; }
  const std::string& reason() const { return progress_.stop_reason; }
  const RolloutProgress& progress() const { return progress_; }
  const Decision& last() const { return last_; }

  FakeClock clock;

 private:
  RolloutProgress progress_;
  Decision last_;
};

using Names = std::vector<std::string>;

}  // namespace topos::rollout::testing
