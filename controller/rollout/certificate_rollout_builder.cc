#include "controller/rollout/certificate_rollout_builder.h"

#include <algorithm>

#include <ctime>
#include <map>
#include <set>

#include "common/text.h"
#include "controller/topology/host_slice.h"

namespace topos::rollout {
namespace {

std::string Utc(std::int64_t unix_seconds) { return FormatUnixUtc(unix_seconds); }

Status CheckSelection(const topology::HostSliceIndex& slices, std::uint64_t version,
                      const std::map<std::string, HostActual>& enrolled,
                      const CertificateSelection& selection) {
  const int given = (selection.hosts.empty() ? 0 : 1) + (selection.pools.empty() ? 0 : 1) +
                    (selection.all ? 1 : 0);
  if (given != 1) {
    return Status::InvalidArgument(
        "give exactly one of --pool POOL, --host FQDN or --all to say whose certificates to renew");
  }
  for (const auto& host : selection.hosts) {
    if (slices.Place(host).pools.empty()) {
      return Status::InvalidArgument("--host " + host + ": no pool of topology version " +
                                     std::to_string(version) + " has this host");
    }
    if (!enrolled.contains(host)) {
      return Status::InvalidArgument("--host " + host +
                                     ": not enrolled (toposctl token create --host " + host + ")");
    }
  }
  std::set<std::string> known;
  for (const auto& pool : slices.topology().pools()) known.insert(pool.name());
  for (const auto& pool : selection.pools) {
    if (!known.contains(pool)) {
      return Status::InvalidArgument("--pool " + pool + ": topology version " +
                                     std::to_string(version) +
                                     " has no such pool (see toposctl topology show)");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<BuiltRollout> BuildCertificateRollout(const BuildInput& input,
                                             const CertificateSelection& selection) {
  const v1::Topology& topology = *input.topology;
  const auto slices = SliceIndexFor(input);
  TOPOS_RETURN_IF_ERROR(
      CheckSelection(*slices, input.topology_version, input.enrolled, selection));
  const std::set<std::string> hosts(selection.hosts.begin(), selection.hosts.end());
  const std::set<std::string> pools(selection.pools.begin(), selection.pools.end());

  BuiltRollout built;
  std::set<std::string> seen;
  int not_enrolled = 0;
  int without_certificates = 0;
  int host_index = 0;
  std::vector<std::string> stage;
  for (const auto& pool : topology.pools()) {
    const bool whole_pool = selection.all || pools.contains(pool.name());
    PoolHosts pool_hosts;
    pool_hosts.name = pool.name();
    for (const auto& host : pool.hosts()) {
      if (!whole_pool && !hosts.contains(host)) continue;
      if (!seen.insert(host).second) continue;  // renewed with its first pool
      if (!input.enrolled.contains(host)) {
        ++not_enrolled;
        built.left_out.push_back(host + ": not enrolled");
        continue;
      }
      auto slice = slices->Build(host, input.topology_version, input.published_at_unix);
      if (!slice) continue;  // it is in this pool, so this does not happen
      const std::string prefix = input.rollout_id + "-" + std::to_string(host_index + 1);
      std::vector<v1::RunStep> steps;
      auto add = [&](v1::StepKind kind, const std::string& service) {
        v1::RunStep& step = steps.emplace_back();
        step.set_step_id(prefix + "-" + std::to_string(steps.size()));
        step.set_kind(kind);
        step.set_service(service);
        step.set_deadline_seconds(input.step_timeout_seconds);
        if (kind == v1::REQUEST_CERTIFICATE) step.set_reissue(selection.reissue);
      };
      // Only services the host reports installed: a certificate step for a
      // service never deployed would fail with "install it first".
      const auto& installed = input.enrolled.at(host).services;
      for (const auto& service : slice->services()) {
        if (!service.has_certificate()) continue;
        bool is_installed = std::any_of(installed.begin(), installed.end(),
                                        [&](const v1::ServiceReport& report) {
                                          return report.name() == service.name() &&
                                                 !report.version().empty();
                                        });
        if (!is_installed) continue;
        add(v1::REQUEST_CERTIFICATE, service.name());
        add(v1::ASSIGN_CERTIFICATE, service.name());
      }
      if (steps.empty()) {
        ++without_certificates;
        built.left_out.push_back(host + ": runs no installed service with a certificate binding");
        continue;
      }
      ++host_index;
      built.steps[host] = std::move(steps);
      pool_hosts.hosts.push_back(host);
    }
    if (pool_hosts.hosts.empty()) continue;
    stage.push_back(pool_hosts.name);
    built.pools.push_back(std::move(pool_hosts));
  }
  if (built.pools.empty()) {
    return Status::FailedPrecondition(
        "no certificate to renew: of the selected hosts, " + std::to_string(without_certificates) +
        " run no installed service with a certificate binding and " + std::to_string(not_enrolled) +
        " are not enrolled (topology version " + std::to_string(input.topology_version) + ")");
  }
  built.stages.push_back(std::move(stage));
  return built;
}

Status CheckEffectiveAt(std::int64_t effective_at_unix, TimePoint now) {
  if (effective_at_unix == 0) return Status::Ok();
  const TimePoint at{std::chrono::seconds(effective_at_unix)};
  if (at < now - kEffectiveAtPastSlack) {
    return Status::InvalidArgument("--effective-at " + Utc(effective_at_unix) +
                                   " is in the past (leave it out to start now)");
  }
  if (at > now + kMaxScheduleAhead) {
    return Status::InvalidArgument("--effective-at " + Utc(effective_at_unix) +
                                   " is more than 30 days ahead");
  }
  return Status::Ok();
}

}  // namespace topos::rollout
