// Rollouts end to end in one process over real mutual TLS: a controller and
// twenty whole agents (AgentNode: link, step executor, built-in supervisor)
// in temporary state directories. An operator pushes a tiny artifact,
// publishes a topology with one pool of the twenty hosts and steers
// rollouts through the admin API. Chosen hosts fail: the service's install
// hook exits 1 on them (it reads TOPOS_HOST_FQDN, which the agent sets), so
// the exact host at which the failure budget runs out can be computed by
// hand (controller/rollout/engine.h, rules 2, 5, 6, 9 and 10).
#include <gmock/gmock.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "agent/service/service_manager.h"
#include "certs/crypto.h"
#include "tests/integration/deploy_test_support.h"
#include "tests/integration/fleet_fixture.h"

namespace topos::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr int kHostCount = 20;
constexpr char kService[] = "tiny";
constexpr char kPool[] = "tiny";

// "h07.rollout.test" for 7: the hosts in topology (and so rollout) order.
std::string Host(int n) { return (n < 10 ? "h0" : "h") + std::to_string(n) + ".rollout.test"; }

std::vector<std::string> Hosts(int first, int last) {
  std::vector<std::string> hosts;
  for (int n = first; n <= last; ++n) hosts.push_back(Host(n));
  return hosts;
}

// A YAML double-quoted scalar.
std::string Quote(const std::string& text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

// What the install hook does besides failing on the chosen hosts.
struct Hook {
  std::set<int> failing;  // host numbers whose install hook exits 1
  std::string before;     // shell run first on every host (e.g. "sleep 1")
};

std::string HookScript(const Hook& hook) {
  std::string script = hook.before.empty() ? "" : hook.before + "; ";
  std::string pattern;
  for (int n : hook.failing) pattern += (pattern.empty() ? "" : "|") + Host(n);
  if (!pattern.empty()) {
    script += "case \"$TOPOS_HOST_FQDN\" in " + pattern +
              ") echo \"planned failure on $TOPOS_HOST_FQDN\" >&2; exit 1;; esac; ";
  }
  return script + "exit 0";
}

std::string TopologyYaml(const std::string& version, const Hook& hook) {
  std::string yaml = "sites:\n  - name: lab\n\nhosts:\n";
  for (int n = 1; n <= kHostCount; ++n) yaml += "  - fqdn: " + Host(n) + "\n";
  yaml += "\npools:\n  - name: " + std::string(kPool) +
          "\n    fqdn: tinypool.rollout.test\n    role: tiny\n    site: lab\n    hosts: [";
  for (int n = 1; n <= kHostCount; ++n) yaml += (n > 1 ? ", " : "") + Host(n);
  yaml += "]\n\nservices:\n";
  yaml += "  - name: " + std::string(kService) + "\n";
  yaml += "    role: tiny\n";
  yaml += "    version: " + Quote(version) + "\n";
  yaml += "    artifact: tiny-" + version + ".tar.gz\n";
  yaml += "    install_hook:\n";
  yaml += "      argv: [sh, -c, " + Quote(HookScript(hook)) + "]\n";
  yaml += "      timeout_seconds: 60\n";
  yaml += "    start:\n      argv: [sleep, \"300\"]\n";  // stopped in TearDown
  yaml += "    stop_timeout_seconds: 2\n";
  yaml += "    restart:\n      policy: never\n";
  return yaml;
}

constexpr char kRolesYaml[] = "roles:\n  - name: tiny\n    description: a tiny test service\n";

bool ProcessAlive(int pid) { return pid > 0 && kill(pid, 0) == 0; }

// Hosts by phase, and the canary flags, of a rollout snapshot.
std::map<std::string, std::string> Phases(const topos::v1::Rollout& rollout) {
  std::map<std::string, std::string> phases;
  for (const auto& pool : rollout.pools()) {
    for (const auto& host : pool.hosts()) phases[host.host_fqdn()] = host.phase();
  }
  return phases;
}

const topos::v1::RolloutHost* FindHost(const topos::v1::Rollout& rollout, const std::string& fqdn) {
  for (const auto& pool : rollout.pools()) {
    for (const auto& host : pool.hosts()) {
      if (host.host_fqdn() == fqdn) return &host;
    }
  }
  return nullptr;
}

// Hosts with a `kind` event, in event order.
std::vector<std::string> HostsWithEvent(const topos::v1::GetRolloutResponse& got,
                                        const std::string& kind) {
  std::vector<std::string> hosts;
  for (const auto& event : got.events()) {
    if (event.kind() == kind) hosts.push_back(event.host_fqdn());
  }
  return hosts;
}

std::vector<const topos::v1::RolloutEvent*> EventsOf(const topos::v1::GetRolloutResponse& got,
                                                     const std::string& kind) {
  std::vector<const topos::v1::RolloutEvent*> events;
  for (const auto& event : got.events()) {
    if (event.kind() == kind) events.push_back(&event);
  }
  return events;
}

// The most hosts running at once, replaying the events (rule 4's window).
int MaxRunning(const topos::v1::GetRolloutResponse& got) {
  int running = 0, most = 0;
  for (const auto& event : got.events()) {
    if (event.kind() == "host-started") most = std::max(most, ++running);
    if (event.kind() == "host-succeeded" || event.kind() == "host-failed") --running;
  }
  return most;
}

std::string Transcript(const topos::v1::GetRolloutResponse& got) {
  std::string text = "rollout " + got.rollout().id() + " " + got.rollout().state() +
                     (got.rollout().done() ? " (done)" : "") + ": " + got.rollout().stop_reason() +
                     "\n";
  for (const auto& event : got.events()) {
    text += "  " + std::to_string(event.seq()) + " " + event.kind() + " " + event.host_fqdn() +
            " " + event.message() + "\n";
  }
  return text;
}

class RolloutTest : public FleetTest {
 protected:
  void SetUp() override {
    FleetTest::SetUp();
    for (int n = 1; n <= kHostCount; ++n) {
      ASSERT_TRUE(EnrollHost(Host(n)).ok()) << Host(n);
      nodes_.push_back(StartNode(Host(n)));
    }
    ASSERT_TRUE(Eventually([&] { return controller_->connected_agents() == kHostCount; }))
        << controller_->connected_agents() << " of " << kHostCount << " agents connected";
    stub_ = AdminStub();
  }

  void TearDown() override {
    nodes_.clear();                          // links and executors stop; services keep running ...
    for (int n = 1; n <= kHostCount; ++n) {  // ... so stop them here
      auto services =
          agent::MakeServiceManager(agent::ServiceManagerKind::kSupervisor, StateDirOf(Host(n)));
      if (services.ok()) (void)(*services)->Stop(kService);
    }
    FleetTest::TearDown();
  }

  // Pushes a fresh artifact and publishes a topology deploying it with
  // `hook`: a new version each time, so every host needs a change.
  void PublishVersion(const Hook& hook) {
    const std::string version = "1.0." + std::to_string(++published_);
    const std::string artifact = MakeTarGz({{"VERSION", version + "\n", 0644}});
    {
      topos::v1::PushArtifactChunk header;
      header.mutable_header()->set_service(kService);
      header.mutable_header()->set_version(version);
      header.mutable_header()->set_size(artifact.size());
      header.mutable_header()->set_sha256(certs::Sha256Hex(artifact));
      header.mutable_header()->set_file_name("tiny-" + version + ".tar.gz");
      topos::v1::PushArtifactChunk data;
      data.set_data(artifact);
      auto context = Context();
      topos::v1::PushArtifactResponse response;
      auto writer = stub_->PushArtifact(context.get(), &response);
      ASSERT_TRUE(writer->Write(header));
      ASSERT_TRUE(writer->Write(data));
      writer->WritesDone();
      grpc::Status status = writer->Finish();
      ASSERT_TRUE(status.ok()) << status.error_message();
    }
    topos::v1::PublishTopologyRequest request;
    request.set_topology_yaml(TopologyYaml(version, hook));
    request.set_roles_yaml(kRolesYaml);
    request.set_source_name("rollout-test.yaml");
    request.set_message("rollout test " + version);
    topos::v1::PublishTopologyResponse response;
    auto context = Context();
    grpc::Status status = stub_->PublishTopology(context.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message() << "\n" << request.topology_yaml();
  }

  static topos::v1::RolloutStrategySpec Strategy(const std::string& max_unavailable,
                                                 std::uint32_t threshold_percent) {
    topos::v1::RolloutStrategySpec spec;
    spec.set_max_unavailable(max_unavailable);
    spec.set_failure_threshold_percent(threshold_percent);
    spec.set_step_timeout_seconds(60);
    return spec;
  }

  grpc::Status StartRollout(const topos::v1::RolloutStrategySpec& spec,
                            const std::vector<std::string>& hosts,
                            topos::v1::StartRolloutResponse* response) {
    topos::v1::StartRolloutRequest request;
    *request.mutable_strategy() = spec;
    for (const auto& host : hosts) request.add_hosts(host);
    auto context = Context();
    return stub_->StartRollout(context.get(), request, response);
  }

  // Starts a rollout that must be accepted; returns its id.
  std::string Start(const topos::v1::RolloutStrategySpec& spec,
                    const std::vector<std::string>& hosts = {}) {
    topos::v1::StartRolloutResponse response;
    grpc::Status status = StartRollout(spec, hosts, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.rollout().id();
  }

  topos::v1::GetRolloutResponse Get(const std::string& id, bool with_events = true) {
    topos::v1::GetRolloutRequest request;
    request.set_id(id);
    request.set_with_events(with_events);
    topos::v1::GetRolloutResponse response;
    auto context = Context();
    grpc::Status status = stub_->GetRollout(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Polls GetRollout until the rollout is done; returns it with its events.
  topos::v1::GetRolloutResponse WaitDone(const std::string& id) {
    topos::v1::GetRolloutResponse got;
    bool done =
        Eventually([&] { return Get(id, false).rollout().done(); }, std::chrono::seconds(45));
    got = Get(id);
    EXPECT_TRUE(done) << "rollout never finished\n" << Transcript(got);
    return got;
  }

  grpc::Status Control(const std::string& id, topos::v1::RolloutAction action,
                       topos::v1::ControlRolloutResponse* response, bool cancel_running = false,
                       const std::string& reason = "") {
    topos::v1::ControlRolloutRequest request;
    request.set_id(id);
    request.set_action(action);
    request.set_cancel_running(cancel_running);
    request.set_reason(reason);
    auto context = Context();
    return stub_->ControlRollout(context.get(), request, response);
  }

  // A sequential rollout (--max-unavailable 1, --failure-threshold 20%) of
  // all twenty hosts where the hosts `failing` fail; expects it to stop
  // right after host `last` with `reason`, the hosts after it never started.
  void ExpectStopsAfter(const std::set<int>& failing, int last, const std::string& reason) {
    SCOPED_TRACE("failing hosts end with #" + std::to_string(*failing.rbegin()) +
                 ", expected stop after #" + std::to_string(last));
    PublishVersion({failing, ""});
    const std::string id = Start(Strategy("1", 20));
    auto got = WaitDone(id);
    const auto& rollout = got.rollout();
    EXPECT_EQ(rollout.state(), "failed") << Transcript(got);
    EXPECT_EQ(rollout.stop_reason(), reason);
    EXPECT_THAT(HostsWithEvent(got, "host-started"), ElementsAreArray(Hosts(1, last)))
        << Transcript(got);
    std::vector<std::string> failed, succeeded;
    for (int n = 1; n <= last; ++n) (failing.count(n) ? failed : succeeded).push_back(Host(n));
    EXPECT_EQ(MaxRunning(got), 1) << Transcript(got);
    EXPECT_THAT(HostsWithEvent(got, "host-failed"), ElementsAreArray(failed));
    EXPECT_THAT(HostsWithEvent(got, "host-succeeded"), ElementsAreArray(succeeded));
    auto phases = Phases(rollout);
    ASSERT_EQ(phases.size(), static_cast<std::size_t>(kHostCount));
    for (int n = 1; n <= kHostCount; ++n) {
      const std::string want = n > last ? "waiting" : failing.count(n) ? "failed" : "succeeded";
      EXPECT_EQ(phases[Host(n)], want) << Host(n);
      if (n > last) {
        EXPECT_EQ(FindHost(rollout, Host(n))->started_at_unix_ms(), 0) << Host(n);
      }
    }
    // The failed hosts failed because of the hook, and the reason is kept.
    for (int n : failing) {
      if (n > last) continue;
      EXPECT_THAT(FindHost(rollout, Host(n))->reason(), HasSubstr("install_service")) << Host(n);
    }
    auto stopped = EventsOf(got, "stopped");
    ASSERT_EQ(stopped.size(), 1u) << Transcript(got);
    EXPECT_EQ(stopped[0]->message(), reason);
  }

  std::vector<std::unique_ptr<agent::AgentNode>> nodes_;
  std::unique_ptr<topos::v1::AdminService::Stub> stub_;
  int published_ = 0;
};

// Rule 5 "not after": 2 of 9 attempted (22.2%) is over 20%, so the rollout
// stops right after host 9 and hosts 10..20 never start. Then 2 of 10 (20%)
// is tolerated and the third failure, 3 of 11 (27.2%), stops it.
TEST_F(RolloutTest, SequentialRolloutStopsRightAfterTheHostThatCrossesTheFailureThreshold) {
  ExpectStopsAfter(
      {2, 9}, 9,
      "pool tiny: 2 of 9 attempted hosts failed (22.2%), over the 20% failure threshold");
  ExpectStopsAfter(
      {5, 10, 11}, 11,
      "pool tiny: 3 of 11 attempted hosts failed (27.2%), over the 20% failure threshold");
}

// Rule 5 "not before": failures that keep the pool at exactly 20% after each
// one (1 of 5, 2 of 10, 3 of 15, 4 of 20) never stop the rollout; every host
// is attempted and the rollout ends failed by rule 9.
TEST_F(RolloutTest, FailuresAtTheThresholdNeverStopTheRolloutEarly) {
  const std::set<int> failing = {5, 10, 15, 20};
  PublishVersion({failing, ""});
  const std::string id = Start(Strategy("1", 20));
  auto got = WaitDone(id);
  const auto& rollout = got.rollout();
  EXPECT_EQ(rollout.state(), "failed") << Transcript(got);
  EXPECT_EQ(rollout.stop_reason(),
            "finished with 4 failed hosts (h05.rollout.test, h10.rollout.test, h15.rollout.test, "
            "h20.rollout.test); 16 hosts deployed");
  EXPECT_THAT(HostsWithEvent(got, "host-started"), ElementsAreArray(Hosts(1, kHostCount)));
  EXPECT_EQ(MaxRunning(got), 1) << Transcript(got);
  for (int n = 1; n <= kHostCount; ++n) {
    EXPECT_EQ(Phases(rollout)[Host(n)], failing.count(n) ? "failed" : "succeeded") << Host(n);
  }
  // The rollout ended only after the last host finished.
  std::uint64_t last_host_result = 0;
  for (const auto& event : got.events()) {
    if (event.host_fqdn() == Host(kHostCount) && event.kind() == "host-failed") {
      last_host_result = event.seq();
    }
  }
  // The closing event (rule 9; the runner records it as "stopped" since the
  // state is failed) carries the reason and comes after that result.
  std::vector<const topos::v1::RolloutEvent*> closing;
  for (const auto& event : got.events()) {
    if (event.host_fqdn().empty() && event.message() == rollout.stop_reason())
      closing.push_back(&event);
  }
  ASSERT_EQ(closing.size(), 1u) << Transcript(got);
  EXPECT_GT(closing[0]->seq(), last_host_result);
  EXPECT_GT(last_host_result, 0u) << Transcript(got);
  EXPECT_GT(rollout.finished_at_unix_ms(), 0);
}

// Rule 6: a failed canary stops the rollout before any main host starts,
// unless --canary-failures-allowed tolerates it.
TEST_F(RolloutTest, FailedCanaryStopsBeforeTheMainHostsUnlessAllowed) {
  {
    SCOPED_TRACE("--canary 2, canary #2 fails, none allowed");
    PublishVersion({{2}, ""});
    auto spec = Strategy("5", 20);
    spec.set_canary(2);
    auto got = WaitDone(Start(spec));
    EXPECT_EQ(got.rollout().state(), "failed") << Transcript(got);
    EXPECT_EQ(got.rollout().stop_reason(),
              "pool tiny: 1 canary host failed (h02.rollout.test), more than the 0 allowed by "
              "--canary-failures-allowed");
    auto stopped = EventsOf(got, "stopped");
    ASSERT_EQ(stopped.size(), 1u) << Transcript(got);
    EXPECT_EQ(stopped[0]->message(), got.rollout().stop_reason());
    auto started = HostsWithEvent(got, "host-started");
    EXPECT_THAT(std::set<std::string>(started.begin(), started.end()),
                ::testing::UnorderedElementsAre(Host(1), Host(2)));
    auto phases = Phases(got.rollout());
    EXPECT_EQ(phases[Host(1)], "succeeded");
    EXPECT_EQ(phases[Host(2)], "failed");
    EXPECT_TRUE(FindHost(got.rollout(), Host(1))->canary());
    EXPECT_TRUE(FindHost(got.rollout(), Host(2))->canary());
    for (int n = 3; n <= kHostCount; ++n) {
      EXPECT_EQ(phases[Host(n)], "waiting") << Host(n);
      EXPECT_FALSE(FindHost(got.rollout(), Host(n))->canary()) << Host(n);
    }
  }
  {
    SCOPED_TRACE("--canary 2 --canary-failures-allowed 1, both canaries fail");
    PublishVersion({{1, 2}, ""});
    auto spec = Strategy("5", 20);
    spec.set_canary(2);
    spec.set_canary_failures_allowed(1);
    auto got = WaitDone(Start(spec));
    EXPECT_EQ(got.rollout().state(), "failed") << Transcript(got);
    EXPECT_EQ(got.rollout().stop_reason(),
              "pool tiny: 2 canary hosts failed (h01.rollout.test, h02.rollout.test), more than "
              "the 1 allowed by --canary-failures-allowed");
    EXPECT_EQ(HostsWithEvent(got, "host-started").size(), 2u) << Transcript(got);
  }
  {
    SCOPED_TRACE("--canary 2 --canary-failures-allowed 1, canary #2 fails");
    PublishVersion({{2}, ""});
    auto spec = Strategy("5", 20);
    spec.set_canary(2);
    spec.set_canary_failures_allowed(1);
    auto got = WaitDone(Start(spec));
    EXPECT_EQ(got.rollout().state(), "failed") << Transcript(got);
    EXPECT_EQ(got.rollout().stop_reason(),
              "finished with 1 failed host (h02.rollout.test); 19 hosts deployed");
    auto started = HostsWithEvent(got, "host-started");
    EXPECT_EQ(std::set<std::string>(started.begin(), started.end()).size(),
              static_cast<std::size_t>(kHostCount));
    EXPECT_EQ(started.size(), static_cast<std::size_t>(kHostCount));
    // Main hosts start only after both canaries finished.
    std::uint64_t canaries_done = 0, first_main = 0;
    for (const auto& event : got.events()) {
      if ((event.host_fqdn() == Host(1) || event.host_fqdn() == Host(2)) &&
          (event.kind() == "host-succeeded" || event.kind() == "host-failed")) {
        canaries_done = std::max(canaries_done, event.seq());
      }
      if (event.kind() == "host-started" && event.host_fqdn() == Host(3)) first_main = event.seq();
    }
    EXPECT_GT(first_main, canaries_done) << Transcript(got);
    // Both canaries at once, then a window of 5 main hosts (filled at once
    // when the main phase opens, never exceeded).
    EXPECT_EQ(MaxRunning(got), 5) << Transcript(got);
  }
}

// Rule 10 through ControlRollout: pause lets the running host finish and
// starts no other; resume goes on to the end.
TEST_F(RolloutTest, PauseStopsNewStartsAndResumeFinishesTheRollout) {
  PublishVersion({{}, "sleep 1"});
  const auto hosts = Hosts(1, 3);
  const std::string id = Start(Strategy("1", 20), hosts);
  ASSERT_TRUE(Eventually([&] {
    auto phases = Phases(Get(id, false).rollout());
    return phases[Host(1)] == "running";
  })) << Transcript(Get(id));

  topos::v1::ControlRolloutResponse paused;
  grpc::Status status = Control(id, topos::v1::ROLLOUT_PAUSE, &paused);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(paused.rollout().state(), "paused");
  std::set<std::string> started_before_pause;
  for (const auto& [host, phase] : Phases(paused.rollout())) {
    if (phase != "waiting") started_before_pause.insert(host);
  }
  ASSERT_LT(started_before_pause.size(), hosts.size()) << "every host started before the pause";

  // The running host finishes; nothing new starts.
  topos::v1::GetRolloutResponse got;
  ASSERT_TRUE(Eventually([&] {
    got = Get(id);
    for (const auto& [host, phase] : Phases(got.rollout())) {
      if (phase == "running") return false;
    }
    return true;
  })) << Transcript(got);
  EXPECT_EQ(got.rollout().state(), "paused");
  EXPECT_FALSE(got.rollout().done());
  auto started = HostsWithEvent(got, "host-started");
  EXPECT_EQ(std::set<std::string>(started.begin(), started.end()), started_before_pause)
      << Transcript(got);
  for (const auto& [host, phase] : Phases(got.rollout())) {
    EXPECT_EQ(phase, started_before_pause.count(host) ? "succeeded" : "waiting") << host;
  }

  // Pausing twice is refused; resume continues to success.
  topos::v1::ControlRolloutResponse again;
  EXPECT_EQ(Control(id, topos::v1::ROLLOUT_PAUSE, &again).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  topos::v1::ControlRolloutResponse resumed;
  status = Control(id, topos::v1::ROLLOUT_RESUME, &resumed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(resumed.rollout().state(), "running");

  got = WaitDone(id);
  EXPECT_EQ(got.rollout().state(), "succeeded") << Transcript(got);
  EXPECT_EQ(got.rollout().stop_reason(), "3 hosts deployed");
  EXPECT_THAT(HostsWithEvent(got, "host-started"), ElementsAreArray(hosts));
  EXPECT_EQ(Phases(got.rollout()).size(), hosts.size());
  EXPECT_EQ(EventsOf(got, "paused").size(), 1u);
  EXPECT_EQ(EventsOf(got, "resumed").size(), 1u);
  EXPECT_EQ(EventsOf(got, "finished").size(), 1u);
  EXPECT_EQ(Control(id, topos::v1::ROLLOUT_RESUME, &again).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

// What `rollout start --wait` and `rollout watch` show: every stored event
// once and in order, then the end of the stream once the rollout is done,
// its last update carrying the finished rollout. Events arrive in batches;
// none may be lost or repeated between them. Snapshots of the rollout carry
// every host, so they are spaced (at most two a second, and the last).
TEST_F(RolloutTest, WatchDeliversEveryStoredEventOnceInOrderThenEnds) {
  PublishVersion({});
  const std::string id = Start(Strategy("5", 0), Hosts(1, 10));
  topos::v1::WatchRolloutRequest request;
  request.set_id(id);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(45));
  auto reader = stub_->WatchRollout(&context, request);
  std::vector<std::uint64_t> watched;
  topos::v1::RolloutUpdate update;
  bool last_was_done = false;
  int snapshots = 0;
  int empty_updates = 0;
  const auto started = std::chrono::steady_clock::now();
  while (reader->Read(&update)) {
    for (const auto& event : update.events()) watched.push_back(event.seq());
    last_was_done = update.has_rollout() && update.rollout().done();
    snapshots += update.has_rollout() ? 1 : 0;
    empty_updates += update.events_size() == 0 && !update.has_rollout() ? 1 : 0;
  }
  const auto watched_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
  grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(last_was_done) << "the stream's last update did not carry the finished rollout";
  EXPECT_EQ(empty_updates, 0);
  EXPECT_GE(snapshots, 1);
  EXPECT_LE(snapshots, 2 + watched_ms / 500) << "over " << watched_ms << " ms";
  auto got = Get(id);
  EXPECT_EQ(got.rollout().state(), "succeeded") << Transcript(got);
  std::vector<std::uint64_t> stored;
  for (const auto& event : got.events()) stored.push_back(event.seq());
  EXPECT_EQ(watched, stored) << Transcript(got);
  EXPECT_EQ(HostsWithEvent(got, "host-started").size(), 10u);
}

// A watcher that draws no progress view (toposctl writing to a pipe or a
// log) asks for the rollout only with the last update: a snapshot carries
// every host. It still gets every event.
TEST_F(RolloutTest, WatchWithFinalSnapshotOnlySendsTheRolloutOnceAtTheEnd) {
  PublishVersion({});
  const std::string id = Start(Strategy("2", 0), Hosts(1, 6));
  topos::v1::WatchRolloutRequest request;
  request.set_id(id);
  request.set_final_snapshot_only(true);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(45));
  auto reader = stub_->WatchRollout(&context, request);
  std::vector<std::uint64_t> watched;
  topos::v1::RolloutUpdate update;
  int snapshots = 0;
  bool last_was_done = false;
  while (reader->Read(&update)) {
    for (const auto& event : update.events()) watched.push_back(event.seq());
    snapshots += update.has_rollout() ? 1 : 0;
    last_was_done = update.has_rollout() && update.rollout().done();
  }
  grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(snapshots, 1);
  EXPECT_TRUE(last_was_done) << "the stream's last update did not carry the finished rollout";
  auto got = Get(id);
  std::vector<std::uint64_t> stored;
  for (const auto& event : got.events()) stored.push_back(event.seq());
  EXPECT_EQ(watched, stored) << Transcript(got);
  EXPECT_GT(stored.size(), 12u);  // six hosts started and finished, at least
}

// One rollout at a time per host: a second rollout touching a held host is
// refused naming the first; one on other hosts is not. Abort with
// cancel_running cancels the running host's step on the agent (the hook's
// process is killed) and starts nothing more.
// The service version a host reports (empty when it has none).
std::string ReportedVersion(const topos::v1::GetHostResponse& host, const std::string& service) {
  for (const auto& report : host.host().services()) {
    if (report.name() == service) return report.version();
  }
  return "";
}

TEST_F(RolloutTest, RollbackPutsHostsBackOnTheVersionTheyRanBefore) {
  const auto hosts = Hosts(1, 3);
  PublishVersion({});
  const std::string first = Start(Strategy("100%", 0), hosts);
  ASSERT_EQ(WaitDone(first).rollout().state(), "succeeded");
  PublishVersion({});  // 1.0.2: every host upgrades
  const std::string upgrade = Start(Strategy("100%", 0), hosts);
  ASSERT_EQ(WaitDone(upgrade).rollout().state(), "succeeded");

  auto version_of = [&](const std::string& fqdn) {
    topos::v1::GetHostRequest request;
    request.set_fqdn(fqdn);
    topos::v1::GetHostResponse response;
    auto context = Context();
    grpc::Status status = stub_->GetHost(context.get(), request, &response);
    return status.ok() ? ReportedVersion(response, kService) : "error: " + status.error_message();
  };
  for (const auto& host : hosts) {
    ASSERT_TRUE(Eventually([&] { return version_of(host) == "1.0.2"; })) << host << ": " << version_of(host);
  }

  topos::v1::RollbackRolloutRequest request;
  request.set_id(upgrade);
  *request.mutable_strategy() = Strategy("1", 0);
  topos::v1::StartRolloutResponse response;
  auto context = Context();
  grpc::Status status = stub_->RollbackRollout(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.rollout().kind(), topos::v1::ROLLOUT_ROLLBACK);
  EXPECT_EQ(response.rollout().rollback_of(), upgrade);
  auto got = WaitDone(response.rollout().id());
  EXPECT_EQ(got.rollout().state(), "succeeded") << Transcript(got);
  for (const auto& host : hosts) {
    EXPECT_TRUE(Eventually([&] { return version_of(host) == "1.0.1"; })) << host << ": " << version_of(host);
  }

  // Nothing differs from before the upgrade any more: a second rollback of
  // the same rollout has nothing to do, and says so.
  topos::v1::StartRolloutResponse again;
  auto again_context = Context();
  status = stub_->RollbackRollout(again_context.get(), request, &again);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("nothing to roll back"));
}

TEST_F(RolloutTest, SecondRolloutOnBusyHostsIsRefusedAndAbortCancelsTheRunningStep) {
  PublishVersion({{}, "echo $$ > \"$TOPOS_SERVICE_DIR/hook.pid\"; sleep 60"});
  const std::string id = Start(Strategy("1", 20), Hosts(1, 3));
  const fs::path pid_file = StateDirOf(Host(1)) / "services" / kService / "hook.pid";
  int hook_pid = 0;
  ASSERT_TRUE(Eventually([&] {
    std::ifstream in(pid_file);
    return static_cast<bool>(in >> hook_pid) && hook_pid > 0;
  })) << Transcript(Get(id));
  EXPECT_TRUE(ProcessAlive(hook_pid));

  topos::v1::StartRolloutResponse refused;
  grpc::Status status = StartRollout(Strategy("1", 20), {}, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr(id));
  status = StartRollout(Strategy("1", 20), {Host(3)}, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr(id));

  // Hosts the first rollout does not hold are free.
  const std::string other = Start(Strategy("1", 20), {Host(10)});
  ASSERT_FALSE(other.empty());
  EXPECT_NE(other, id);
  topos::v1::ControlRolloutResponse control;
  status = Control(other, topos::v1::ROLLOUT_ABORT, &control, /*cancel_running=*/true);
  ASSERT_TRUE(status.ok()) << status.error_message();

  status = Control(id, topos::v1::ROLLOUT_ABORT, &control, /*cancel_running=*/true, "bad config");
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(control.rollout().state(), "aborted");
  auto got = WaitDone(id);
  EXPECT_EQ(got.rollout().state(), "aborted") << Transcript(got);
  EXPECT_THAT(got.rollout().stop_reason(), HasSubstr("bad config"));
  auto phases = Phases(got.rollout());
  EXPECT_EQ(phases[Host(1)], "failed") << Transcript(got);
  EXPECT_EQ(phases[Host(2)], "waiting");
  EXPECT_EQ(phases[Host(3)], "waiting");
  EXPECT_THAT(HostsWithEvent(got, "host-started"), ElementsAreArray({Host(1)}));
  bool install_cancelled = false;
  for (const auto& event : got.events()) {
    if (event.host_fqdn() == Host(1) && event.kind() == "step-cancelled" &&
        event.step_kind() == topos::v1::INSTALL_SERVICE) {
      install_cancelled = true;
    }
  }
  EXPECT_TRUE(install_cancelled) << Transcript(got);
  EXPECT_TRUE(Eventually([&] { return !ProcessAlive(hook_pid); }))
      << "the install hook (pid " << hook_pid << ") still runs after the abort";
  EXPECT_EQ(Control(id, topos::v1::ROLLOUT_ABORT, &control).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  auto other_got = WaitDone(other);
  EXPECT_EQ(other_got.rollout().state(), "aborted") << Transcript(other_got);
  // Both done: the hosts are free again.
  topos::v1::StartRolloutResponse free_again;
  status = StartRollout(Strategy("20", 100), Hosts(1, 3), &free_again);
  EXPECT_TRUE(status.ok()) << status.error_message();
  if (status.ok()) {
    (void)Control(free_again.rollout().id(), topos::v1::ROLLOUT_ABORT, &control, true);
    WaitDone(free_again.rollout().id());
  }
}

}  // namespace
}  // namespace topos::testing
