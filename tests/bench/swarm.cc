// topos-swarm: many simulated agents in one process, each with its own key,
// certificate and mutual-TLS connection, speaking the real protocol. Used by
// scripts/bench-fleet.sh and scripts/bench-rollout.sh; prints figures,
// asserts nothing. Each agent runs deployment steps as no-ops
// (NoOpStepRunner), so rollouts to the whole swarm can be timed.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <chrono>
#include <iostream>
#include <thread>

#include "agent/link/controller_link.h"
#include "agent/link/enroller.h"
#include "common/file_io.h"
#include "common/grpc_runtime.h"
#include "common/grpc_tls.h"
#include "tests/bench/noop_step_runner.h"
#include "tests/bench/swarm_topology.h"
#include "topos/v1/admin.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using topos::bench::SwarmTopology;

// Set by SIGINT/SIGTERM: ends the hold early (the swarm still prints its
// totals and stops its agents cleanly).
volatile sig_atomic_t g_stop_requested = 0;
void RequestStop(int) { g_stop_requested = 1; }

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::int64_t UnixMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Writes `text` to `path` through a rename, so a script polling the file
// never reads half of it.
void WriteAtomically(const std::string& path, const std::string& text) {
  std::string temporary = path + ".tmp";
  std::ofstream(temporary) << text;
  std::rename(temporary.c_str(), path.c_str());
}

// CPU seconds (user + system) the process has used, from /proc; 0 if unknown.
double CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  topos::TuneGrpcRuntime();
  CLI::App app{"topos-swarm: simulate N agents against one controller and print figures"};
  std::string controller, creds, state_root, pattern = "sim-{n}.bench.test", heartbeat = "30";
  int count = 100, concurrency = 4, hold_seconds = 20, controller_pid = 0, publish_rounds = 0;
  std::string roles_file, ready_file, step_times_file, reconnect_file;
  int services_per_host = 0;
  int max_connecting = 200;
  int first = 0, topology_round = 1;
  std::string write_topology, applied_file, start_when;
  app.add_option("--controller", controller, "Controller HOST:PORT (required unless --write-topology)");
  app.add_option("--creds", creds, "Operator credential directory (required unless --write-topology)");
  app.add_option("--state-root", state_root,
                 "Directory for the agents' state (required unless --write-topology)");
  app.add_option("--count", count, "Number of agents")->check(CLI::Range(1, 20000));
  app.add_option("--first", first,
                 "Number of the first agent ({n} in --host-pattern), so several swarm processes "
                 "can share one fleet; the topologies this swarm publishes name agents 0 to "
                 "first + count - 1")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--write-topology", write_topology,
                 "Only write the topology --publish-rounds would publish (agents 0 to first + "
                 "count - 1, round --topology-round) to this file, and exit")
      ->check(CLI::NonexistentPath);
  app.add_option("--topology-round", topology_round, "Round number for --write-topology")
      ->check(CLI::Range(1, 1000000));
  std::string round_scope = "global";
  app.add_option("--round-scope", round_scope,
                 "Where the setting that changes every round goes: global (every host's "
                 "slice changes) or first-pool (ten hosts get a new slice, the others the "
                 "same content under the new version)")
      ->check(CLI::IsMember({"global", "first-pool"}));
  app.add_option("--start-when", start_when,
                 "After creating its tokens, print \"tokens created\" and wait until this file "
                 "exists before enrolling (so several swarm processes enroll together)");
  app.add_option("--applied-file", applied_file,
                 "During the hold: when it starts and each time the lowest local-store version "
                 "among this swarm's agents changes, write VERSION UNIX_MS here (for publishes "
                 "made from outside)");
  app.add_option("--concurrency", concurrency, "Parallel enrollments")->check(CLI::Range(1, 256));
  app.add_option("--host-pattern", pattern, "Host names; {n} is the agent number");
  app.add_option("--hold", hold_seconds, "Seconds to hold all connections")->check(CLI::Range(0, 3600));
  app.add_option("--heartbeat", heartbeat, "Heartbeat interval, seconds");
  app.add_option("--publish-rounds", publish_rounds,
                 "Publish this many topology versions naming every agent, timing each until "
                 "every agent has applied it")
      ->check(CLI::Range(0, 100));
  app.add_option("--services-per-host", services_per_host,
                 "Services with a certificate binding on every host (for `certs rollout`; "
                 "each agent then really requests certificates): in the topologies this swarm "
                 "publishes or writes, and installed (no-op) on every agent once connected. "
                 "With --publish-rounds 0 the topology is published from outside, from "
                 "--write-topology with the same value")
      ->check(CLI::Range(0, 100));
  app.add_option("--roles", roles_file, "Role catalog to publish with (needs a role \"database\")");
  app.add_option("--controller-pid", controller_pid, "Controller pid, to report its CPU time");
  app.add_option("--ready-file", ready_file,
                 "Write this file (the number of connected agents) once every agent is connected "
                 "and the publish rounds are done, when the hold starts");
  app.add_option("--max-connecting", max_connecting,
                 "Start agents' links while fewer than this many are still connecting: a fleet "
                 "comes up over time, and 10,000 simultaneous TLS handshakes from one process "
                 "on the controller's own machine measure the swarm, not the controller")
      ->check(CLI::Range(1, 100000));
  app.add_option("--step-times", step_times_file,
                 "At the end, write one line per agent: HOST FIRST_MS LAST_MS, the Unix times "
                 "(ms) of the first and last controller step it answered (0: none), for fan-out "
                 "latency");
  app.add_option("--reconnect-file", reconnect_file,
                 "During the hold: each time every agent is connected again after some lost "
                 "their stream (a controller restart), write LOST_MS BACK_MS COUNT here: when "
                 "the first was lost and when the last came back (Unix ms)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  const auto scope = round_scope == "first-pool" ? topos::bench::RoundSettingScope::kFirstPool
                                                 : topos::bench::RoundSettingScope::kGlobal;
  if (!write_topology.empty()) {
    WriteAtomically(write_topology, SwarmTopology(pattern, first + count, "database",
                                                  std::to_string(topology_round),
                                                  services_per_host, scope));
    return 0;
  }
  if (controller.empty() || creds.empty() || state_root.empty()) {
    std::cerr << "topos-swarm: --controller, --creds and --state-root are required (see --help)\n";
    return 2;
  }
  auto host = [&](int i) { return topos::bench::SwarmHostName(pattern, first + i); };

  topos::TlsIdentity admin{*topos::ReadFile(creds + "/ca.pem"), *topos::ReadFile(creds + "/cert.pem"),
                           *topos::ReadFile(creds + "/key.pem")};
  auto stub = topos::v1::AdminService::NewStub(
      topos::MakeChannel(controller, topos::MakeMutualTlsCredentials(admin)));

  // Tokens first, so the enrollment rate measures enrollment alone.
  std::vector<topos::v1::CreateTokenResponse> tokens(count);
  for (int i = 0; i < count; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    topos::v1::CreateTokenRequest request;
    request.set_host_fqdn(host(i));
    request.set_ttl_seconds(3600);
    grpc::Status status = stub->CreateToken(&context, request, &tokens[i]);
    if (!status.ok()) {
      std::cerr << "token for " << request.host_fqdn() << ": " << status.error_message() << "\n";
      return 1;
    }
  }

  if (!start_when.empty()) {
    std::cout << "tokens created" << std::endl;
    while (access(start_when.c_str(), F_OK) != 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::atomic<int> next{0}, failures{0};
  double enroll_cpu_before = controller_pid ? CpuSeconds(controller_pid) : 0;
  double swarm_cpu_before = CpuSeconds(getpid());
  auto enroll_start = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < concurrency; ++w) {
    workers.emplace_back([&] {
      for (int i = next++; i < count; i = next++) {
        topos::agent::EnrollOptions options;
        options.controller = controller;
        options.token = tokens[i].token();
        options.ca_sha256 = tokens[i].ca_sha256();
        options.host_fqdn = host(i);
        options.state_dir = state_root + "/" + options.host_fqdn;
        if (auto s = topos::agent::Enroll(options); !s.ok()) {
          if (failures++ < 5) std::cerr << "enroll " << options.host_fqdn << ": " << s.message() << "\n";
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  double enroll_seconds = Seconds(Clock::now() - enroll_start);
  std::cout << "enrolled " << count - failures << "/" << count << " in " << enroll_seconds
            << " s: " << (count - failures) / enroll_seconds << " enrollments/s (concurrency "
            << concurrency << ")";
  // The swarm's side of an enrollment (a key, a CSR, two handshakes, the
  // state files) costs more CPU than the controller's on a shared box: the
  // controller's own rate per core is the figure it can be judged by.
  if (controller_pid && count > failures) {
    double per_enrollment = (CpuSeconds(controller_pid) - enroll_cpu_before) / (count - failures);
    double swarm_per_enrollment =
        (CpuSeconds(getpid()) - swarm_cpu_before) / (count - failures);
    std::cout << "; controller CPU " << per_enrollment * 1000 << " ms per enrollment ("
              << (per_enrollment > 0 ? 1 / per_enrollment : 0) << "/s per core), swarm CPU "
              << swarm_per_enrollment * 1000 << " ms";
  }
  std::cout << std::endl;

  // One no-op step runner per agent; declared before the links, which use
  // them, so they outlive them.
  std::vector<std::unique_ptr<topos::bench::NoOpStepRunner>> runners;
  std::vector<std::unique_ptr<topos::agent::ControllerLink>> links;
  auto connected = [&] {
    int n = 0;
    for (const auto& link : links) n += link->connected();
    return n;
  };
  auto connect_start = Clock::now();
  for (int i = 0; i < count; ++i) {
    std::string state_dir = state_root + "/" + host(i);
    // Certificate requests go over the agent's link when it is up, as the
    // real agent's StepContext::controller_on_link, otherwise over a
    // connection of their own (identity loaded per use).
    auto link_slot = std::make_shared<topos::agent::ControllerLink*>(nullptr);
    auto stub = [dir = topos::agent::StateDir(state_dir), link_slot]()
        -> std::unique_ptr<topos::v1::AgentService::StubInterface> {
      if (*link_slot != nullptr) {
        if (auto channel = (*link_slot)->channel()) return topos::v1::AgentService::NewStub(channel);
      }
      auto current = dir.Load();
      if (!current.ok()) return nullptr;
      return topos::v1::AgentService::NewStub(topos::MakeChannel(
          current->controller, topos::MakeMutualTlsCredentials(current->identity),
          /*private_connection=*/true));
    };
    runners.push_back(std::make_unique<topos::bench::NoOpStepRunner>(state_dir, stub));
    topos::agent::LinkOptions link_options;
    link_options.heartbeat_interval = std::chrono::seconds(std::stoi(heartbeat));
    link_options.private_connection = true;
    link_options.steps = runners.back().get();
    links.push_back(std::make_unique<topos::agent::ControllerLink>(
        topos::agent::StateDir(state_dir), link_options));
    *link_slot = links.back().get();
  }
  // Started from `concurrency` threads, as they enrolled: a link's Start
  // reads its identity and opens its local store (a durable commit), and
  // one thread doing that for every agent took longer than the handshakes.
  // No thread starts another link while max_connecting are still connecting.
  std::atomic<int> started{0}, next_link{0};
  std::vector<char> start_failed(links.size(), 0);
  workers.clear();
  for (int w = 0; w < concurrency; ++w) {
    workers.emplace_back([&] {
      for (int i = next_link++; i < count; i = next_link++) {
        auto ramp_deadline = Clock::now() + std::chrono::seconds(30);
        while (started.load() - connected() >= max_connecting && Clock::now() < ramp_deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (links[i]->Start().ok()) {
          ++started;
        } else {
          start_failed[i] = 1;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  for (int i = count - 1; i >= 0; --i) {
    if (start_failed[i]) links.erase(links.begin() + i);
  }
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (connected() < static_cast<int>(links.size()) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::cout << "connected " << connected() << "/" << count << " in "
            << Seconds(Clock::now() - connect_start) << " s" << std::endl;
  for (int round = 1; round <= publish_rounds; ++round) {
    topos::v1::PublishTopologyRequest request;
    request.set_topology_yaml(
        SwarmTopology(pattern, first + count, "database", std::to_string(round), services_per_host,
                      scope));
    if (!roles_file.empty()) request.set_roles_yaml(*topos::ReadFile(roles_file));
    request.set_source_name("swarm.yaml");
    std::vector<int> before(links.size());
    for (std::size_t i = 0; i < links.size(); ++i) before[i] = links[i]->updates_applied();
    double cpu_before = controller_pid ? CpuSeconds(controller_pid) : 0;
    auto publish_start = Clock::now();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    topos::v1::PublishTopologyResponse response;
    grpc::Status status = stub->PublishTopology(&context, request, &response);
    if (!status.ok()) {
      std::cerr << "publish: " << status.error_message() << "\n";
      return 1;
    }
    auto publish_returned = Clock::now();
    auto applied = [&] {
      int n = 0;
      for (std::size_t i = 0; i < links.size(); ++i) n += links[i]->updates_applied() > before[i];
      return n;
    };
    auto publish_deadline = Clock::now() + std::chrono::seconds(120);
    while (applied() < static_cast<int>(links.size()) && Clock::now() < publish_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    double elapsed = Seconds(Clock::now() - publish_start);
    std::cout << "publish round " << round << " (version " << response.version().version()
              << "): publish call " << Seconds(publish_returned - publish_start) * 1000
              << " ms, every agent applied in " << elapsed << " s (" << applied() << "/"
              << links.size() << ")";
    if (controller_pid) {
      double cpu = CpuSeconds(controller_pid) - cpu_before;
      std::cout << ", controller CPU " << cpu << " s (" << 100 * cpu / elapsed
                << "% of one core)";
    }
    std::cout << std::endl;
  }

  // Certificate rollouts renew only services a host reports installed:
  // install each published service on every simulated agent (no-op, as a
  // deploy would), and give the controller a moment to store the reports.
  // With several swarms the bench script publishes the topology itself
  // before they start, so this does not wait for a publish of our own.
  if (services_per_host > 0) {
    for (std::size_t i = 0; i < runners.size(); ++i) {
      for (int k = 1; k <= services_per_host; ++k) {
        topos::v1::RunStep install;
        install.set_step_id("swarm-install-" + std::to_string(k));
        install.set_kind(topos::v1::INSTALL_SERVICE);
        install.set_service("sim-svc-" + std::to_string(k));
        runners[i]->Submit(install);
      }
    }
    std::this_thread::sleep_for(std::chrono::seconds(3));
    std::cout << "installed " << services_per_host << " services (no-op) on every agent"
              << std::endl;
  }

  // The bench scripts sample the controller (or run a rollout) while we
  // hold; SIGINT or SIGTERM ends the hold early.
  signal(SIGINT, RequestStop);
  signal(SIGTERM, RequestStop);
  std::cout << "holding " << hold_seconds << " s" << std::endl;
  // A reconnect storm: note when the first stream is lost and when every
  // agent is back (a 50 ms poll: finer than the figures it serves).
  std::int64_t lost_at_ms = 0;
  const int all = static_cast<int>(links.size());
  auto lowest_version = [&] {
    std::uint64_t lowest = UINT64_MAX;
    for (const auto& link : links) lowest = std::min(lowest, link->applied_config_version());
    return links.empty() ? 0 : lowest;
  };
  std::uint64_t reported_version = UINT64_MAX;
  auto report_applied_version = [&] {
    if (applied_file.empty()) return;
    const std::uint64_t lowest = lowest_version();
    if (lowest == reported_version) return;
    reported_version = lowest;
    WriteAtomically(applied_file, std::to_string(reported_version) + " " +
                                      std::to_string(UnixMs(std::chrono::system_clock::now())) +
                                      "\n");
  };
  report_applied_version();  // before the ready file, so a script reading both finds both
  if (!ready_file.empty()) WriteAtomically(ready_file, std::to_string(connected()) + "\n");
  auto hold_end = Clock::now() + std::chrono::seconds(hold_seconds);
  while (Clock::now() < hold_end && !g_stop_requested) {
    report_applied_version();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    int now_connected = connected();
    if (lost_at_ms == 0 && now_connected < all) {
      lost_at_ms = UnixMs(std::chrono::system_clock::now());
      std::cout << "lost: " << all - now_connected << " agents disconnected" << std::endl;
    } else if (lost_at_ms != 0 && now_connected == all) {
      std::int64_t back_ms = UnixMs(std::chrono::system_clock::now());
      std::cout << "reconnected: all " << all << " agents back " << (back_ms - lost_at_ms) / 1000.0
                << " s after the first was lost" << std::endl;
      if (!reconnect_file.empty()) {
        WriteAtomically(reconnect_file, std::to_string(lost_at_ms) + " " +
                                            std::to_string(back_ms) + " " +
                                            std::to_string(all) + "\n");
      }
      lost_at_ms = 0;
    }
  }
  std::cout << "still connected after hold: " << connected() << "/" << count << std::endl;
  for (auto& link : links) link->Stop();
  links.clear();
  std::uint64_t executed = 0, resent = 0, certificates = 0;
  for (const auto& runner : runners) {
    executed += runner->executed();
    resent += runner->resent();
    certificates += runner->certificates_issued();
  }
  if (!step_times_file.empty()) {
    std::string lines;
    for (std::size_t i = 0; i < runners.size(); ++i) {
      auto first = runners[i]->first_answer(), last = runners[i]->last_answer();
      lines += host(static_cast<int>(i)) + " " +
               std::to_string(first.time_since_epoch().count() ? UnixMs(first) : 0) + " " +
               std::to_string(last.time_since_epoch().count() ? UnixMs(last) : 0) + "\n";
    }
    WriteAtomically(step_times_file, lines);
  }
  std::cout << "no-op steps executed: " << executed << " (resends answered from memory: "
            << resent << "); certificates issued to the agents: " << certificates << std::endl;
  return failures == 0 ? 0 : 1;
}
