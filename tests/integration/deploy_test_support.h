// Helpers for the deploy integration tests (deploy_test.cc): the test
// topology and role catalog for topos-pchat, artifact tarballs made on the
// fly, HTTPS checks through curl, the agent's step journal on disk, and a
// Deploy call collected into one value.
//
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "topos/v1/admin.grpc.pb.h"
#include "topos/v1/agent_journal.pb.h"

namespace topos::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
// closed again). Never a fixed well-known port, so test binaries that run in
// parallel do not collide.
int FreePort();

struct TarEntry {
  std::string name;  // as stored, e.g. "bin/topos-pchat" or "../evil"
  std::string data;
  int perm = 0644;
};
// A gzip-compressed pax tarball holding `entries`, as bytes.
std::string MakeTarGz(const std::vector<TarEntry>& entries);

// One topos-pchat host of the test topology.
struct PchatHost {
  std::string fqdn;
  int port = 0;  // TOPOS_PCHAT_PORT, the prerequisite port and the health check's port
};

// What the topos-pchat service entries of the test topology say.
struct PchatService {
  std::string version = "6.0.9319";
  std::string artifact = "topos-pchat-6.0.9319.tar.gz";
  std::vector<std::string> extra_names;       // certificate.names
  std::vector<std::string> install_hook;      // argv; empty: no hook
  std::uint32_t health_timeout_seconds = 10;  // health_check.timeout_seconds
};

// The topology: one site; per host a pool of its own (pool FQDN
// "<first label>.pool.contoso.test") with a role of its own ("pchat-N"), and
// per role a topos-pchat entry that differs only in its port.
//
// Why one pool per host: a service entry carries one port, and three agents
// on one machine need three ports. Roles in the test catalog require
// nothing, so a role per host is sound and keeps the real tcp_port health
// check; in a real fleet the hosts would share one pool and one port.
std::string PchatTopologyYaml(const std::vector<PchatHost>& hosts, const PchatService& service);
// The role catalog that goes with it: roles pchat-1 .. pchat-N.
std::string PchatRolesYaml(std::size_t hosts);
// The pool FQDN PchatTopologyYaml gives `host`.
std::string PoolFqdnOf(const std::string& host);

// The outcome of `curl --cacert CA --resolve NAME:PORT:127.0.0.1 https://NAME:PORT/PATH`.
struct HttpsAnswer {
  int exit_code = -1;  // curl's exit status; 0: verified and answered 2xx
  std::string body;    // stdout, plus stderr on failure
};
bool HaveCurl();
HttpsAnswer CurlHttps(const std::filesystem::path& ca_file, const std::string& name, int port,
                      const std::string& path = "/");

// Every journal entry under STATE_DIR/store/journal (unordered).
std::vector<topos::v1::JournalEntry> ReadJournal(const std::filesystem::path& state_dir);

// One Deploy call read to its end.
struct DeployOutcome {
  grpc::Status status;                        // the call's status
  std::vector<topos::v1::DeployEvent> events; // in arrival order
  bool done = false;                          // the last event had `done`
  bool ok = false;                            // ... and `ok`
  std::string message;                        // the last event's message

  // The final update (SUCCEEDED/FAILED/PENDING/CANCELLED) of the first step
  // of `kind`; nullopt if none arrived.
  std::optional<topos::v1::StepUpdate> Final(topos::v1::StepKind kind) const;
  // Every final update, in order.
  std::vector<topos::v1::StepUpdate> Finals() const;
  // The steps listed (dry run) or started, in order.
  std::vector<topos::v1::RunStep> Steps() const;
  // Every event as one line, for failure messages.
  std::string Transcript() const;
};
DeployOutcome RunDeploy(topos::v1::AdminService::Stub& stub, const topos::v1::DeployRequest& request,
                        std::chrono::seconds deadline = std::chrono::seconds(60));

}  // namespace topos::testing
