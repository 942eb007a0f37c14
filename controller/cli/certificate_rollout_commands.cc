// `toposctl certs rollout (--pool P | --host FQDN... | --all) [--reissue]
// [--effective-at TIME] [strategy flags] [--wait]`: renews the service
// certificates of the chosen hosts through the rollout engine, in batches.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "controller/cli/commands.h"
#include "controller/cli/rollout_flags.h"
#include "controller/cli/rollout_watch.h"

namespace topos::cli {
namespace {

struct CertificateRolloutOptions {
  StrategyFlags strategy;
  std::vector<std::string> hosts;
  std::vector<std::string> pools;
  bool all = false;
  bool reissue = false;
  std::string effective_at;
  bool wait = false;
  bool all_steps = false;
  std::string output = "table";
};

int StartCertificateRollout(const ConnectionOptions& connection,
                            const CertificateRolloutOptions& options) {
  const int chosen = (options.hosts.empty() ? 0 : 1) + (options.pools.empty() ? 0 : 1) +
                     (options.all ? 1 : 0);
  if (chosen != 1) {
    return Fail(Status::InvalidArgument(
        "give exactly one of --pool POOL, --host FQDN (repeatable) or --all"));
  }
  auto spec = ToSpec(options.strategy);
  if (!spec.ok()) return Fail(spec.status());
  v1::StartCertificateRolloutRequest request;
  *request.mutable_strategy() = *spec;
  for (const auto& host : options.hosts) request.add_hosts(host);
  for (const auto& pool : options.pools) request.add_pools(pool);
  request.set_all(options.all);
  request.set_reissue(options.reissue);
  if (!options.effective_at.empty()) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    auto at = ParseEffectiveAt(options.effective_at, now);
    if (!at.ok()) return Fail(at.status());
    request.set_effective_at_unix(*at);
  }
  v1::StartRolloutResponse response;
  if (!CallAdmin(connection, &v1::AdminService::Stub::StartCertificateRollout, request,
                 &response)) {
    return 1;
  }
  StartedReport report;
  report.what = "certificate rollout";
  report.detail = response.rollout().reissue() ? ", every certificate reissued"
                                               : ", certificates renewed where due";
  report.output = options.output;
  report.wait = options.wait;
  report.all_steps = options.all_steps;
  return ReportStartedRollout(connection, response, report);
}

}  // namespace

void AddCertificateRolloutCommands(CLI::App& certs, ConnectionOptions& connection,
                                   Action& action) {
  auto options = std::make_shared<CertificateRolloutOptions>();
  auto* rollout = certs.add_subcommand(
      "rollout",
      "Renew the service certificates of some hosts through the rollout engine: for each "
      "service with a certificate binding, request a certificate and assign it (the service is "
      "reloaded or restarted and health-checked), host by host in batches set by the strategy "
      "flags, as `rollout start` does. Follow it with `rollout watch|status`, steer it with "
      "`rollout pause|resume|abort`; it cannot be rolled back. Exit codes with --wait: 0 "
      "succeeded, 1 failed or refused, 3 aborted, 4 could not follow it to the end");
  rollout->add_option("--pool", options->pools, "The hosts of this pool (repeatable)");
  rollout->add_option("--host", options->hosts, "This host (repeatable)");
  rollout->add_flag("--all", options->all, "Every enrolled host of the published topology");
  rollout->add_flag("--reissue", options->reissue,
                    "Reissue every certificate, even those still good (without it only "
                    "certificates past two thirds of their lifetime or with other names are "
                    "renewed)");
  rollout->add_option(
      "--effective-at", options->effective_at,
      "Start no host before this time: RFC 3339 (2026-11-27T02:00:00Z) or a delay (+2h, +30m); "
      "at most 30 days ahead. Until then the rollout is \"scheduled\" (pause and abort work)");
  AddStrategyFlags(rollout, options->strategy);
  rollout->add_flag("--wait", options->wait,
                    "Follow it with the live progress view until it ends; the exit code says how");
  rollout->add_flag("--steps", options->all_steps,
                    "With --wait: show every step, not only failures");
  rollout->add_option("--output", options->output, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  rollout->callback([&, options] {
    action = [&, options] { return StartCertificateRollout(connection, *options); };
  });
}

}  // namespace topos::cli
