// topos-swarm: many simulated agents in one process, each with its own key,
// certificate and mutual-TLS connection, speaking the real protocol. Used by
// scripts/bench-enroll.sh; prints figures, asserts nothing.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "agent/link/controller_link.h"
#include "agent/link/enroller.h"
#include "common/file_io.h"
#include "common/grpc_tls.h"
#include "topos/v1/admin.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string HostName(const std::string& pattern, int n) {
  std::string name = pattern;
  auto at = name.find("{n}");
  if (at != std::string::npos) name.replace(at, 3, std::to_string(n));
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"topos-swarm: simulate N agents against one controller and print figures"};
  std::string controller, creds, state_root, pattern = "sim-{n}.bench.test", heartbeat = "30";
  int count = 100, concurrency = 4, hold_seconds = 20;
  app.add_option("--controller", controller, "Controller HOST:PORT")->required();
  app.add_option("--creds", creds, "Operator credential directory")->required();
  app.add_option("--state-root", state_root, "Directory for the agents' state")->required();
  app.add_option("--count", count, "Number of agents")->check(CLI::Range(1, 20000));
  app.add_option("--concurrency", concurrency, "Parallel enrollments")->check(CLI::Range(1, 256));
  app.add_option("--host-pattern", pattern, "Host names; {n} is the agent number");
  app.add_option("--hold", hold_seconds, "Seconds to hold all connections")->check(CLI::Range(0, 3600));
  app.add_option("--heartbeat", heartbeat, "Heartbeat interval, seconds");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

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
    request.set_host_fqdn(HostName(pattern, i));
    request.set_ttl_seconds(3600);
    grpc::Status status = stub->CreateToken(&context, request, &tokens[i]);
    if (!status.ok()) {
      std::cerr << "token for " << request.host_fqdn() << ": " << status.error_message() << "\n";
      return 1;
    }
  }

  std::atomic<int> next{0}, failures{0};
  auto enroll_start = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < concurrency; ++w) {
    workers.emplace_back([&] {
      for (int i = next++; i < count; i = next++) {
        topos::agent::EnrollOptions options;
        options.controller = controller;
        options.token = tokens[i].token();
        options.ca_sha256 = tokens[i].ca_sha256();
        options.host_fqdn = HostName(pattern, i);
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
            << concurrency << ")" << std::endl;

  topos::agent::LinkOptions link_options;
  link_options.heartbeat_interval = std::chrono::seconds(std::stoi(heartbeat));
  link_options.private_connection = true;
  std::vector<std::unique_ptr<topos::agent::ControllerLink>> links;
  auto connect_start = Clock::now();
  for (int i = 0; i < count; ++i) {
    auto link = std::make_unique<topos::agent::ControllerLink>(
        topos::agent::StateDir(state_root + "/" + HostName(pattern, i)), link_options);
    if (link->Start().ok()) links.push_back(std::move(link));
  }
  auto connected = [&] {
    int n = 0;
    for (const auto& link : links) n += link->connected();
    return n;
  };
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (connected() < static_cast<int>(links.size()) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::cout << "connected " << connected() << "/" << count << " in "
            << Seconds(Clock::now() - connect_start) << " s" << std::endl;
  // The bench script samples the controller while we hold.
  std::cout << "holding " << hold_seconds << " s" << std::endl;
  std::this_thread::sleep_for(std::chrono::seconds(hold_seconds));
  std::cout << "still connected after hold: " << connected() << "/" << count << std::endl;
  for (auto& link : links) link->Stop();
  links.clear();
  return failures == 0 ? 0 : 1;
}
