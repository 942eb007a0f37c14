#include "controller/rollout/rollout_manager.h"

#include <spdlog/spdlog.h>

#include <ctime>
#include <thread>

#include "certs/crypto.h"
#include "common/text.h"
#include "controller/rollout/certificate_rollout_builder.h"
#include "controller/rollout/rollout_codec.h"
#include "controller/rollout/rollout_record.h"
#include "controller/topology/role_catalog.h"
#include "topos/v1/agent_journal.pb.h"

namespace topos::rollout {
namespace {

constexpr std::size_t kEventsPerRead = 1000;

// Enrolled, not removed hosts and what they last reported. A host whose
// stored service report cannot be read counts as reporting none (it is
// planned in full; every step is idempotent).
Result<std::map<std::string, HostActual>> ReadEnrolled(controller::Store& store,
                                                       controller::AgentHub& hub) {
  auto records = store.ListHosts();
  if (!records.ok()) return records.status();
  std::map<std::string, HostActual> enrolled;
  for (const auto& record : *records) {
    if (record.removed_at) continue;
    HostActual& actual = enrolled[record.fqdn];
    controller::LiveState live = hub.Live(record.fqdn);
    actual.connected = live.connected;
    actual.applied_config_version =
        live.connected ? live.applied_config_version : record.applied_config_version;
    v1::StoredServiceReports services;
    if (!record.services.empty() && services.ParseFromString(record.services)) {
      actual.services.assign(services.services().begin(), services.services().end());
    }
  }
  return enrolled;
}

std::vector<v1::Role> PublishedRoles(controller::Store& store, std::uint64_t version) {
  auto record = store.GetTopologyVersion(version);
  if (!record.ok() || record->roles_yaml.empty()) return {};
  auto catalog = topology::RoleCatalog::LoadText(record->roles_yaml, "published roles");
  if (!catalog.ok()) return {};
  return {catalog->proto().roles().begin(), catalog->proto().roles().end()};
}

// "2026-11-27T02:00:00Z".
std::string FormatUnixMs(std::int64_t unix_ms) { return FormatUnixUtc(unix_ms / 1000); }

v1::Rollout WithoutHosts(v1::Rollout rollout) {
  for (auto& pool : *rollout.mutable_pools()) pool.clear_hosts();
  return rollout;
}

}  // namespace

RolloutManager::~RolloutManager() { Shutdown(); }

Status RolloutManager::Recover() {
  auto stored = services_.store.ListRollouts(/*unfinished_only=*/true);
  if (!stored.ok()) return stored.status();
  std::lock_guard lock(mutex_);
  for (const auto& row : *stored) {
    auto record = ReadStoredRollout(row);
    if (!record.ok()) {
      spdlog::error("{}; left as it is", record.status().message());
      continue;
    }
    std::uint64_t last_seq = 0;
    for (;;) {
      auto events = services_.store.ListRolloutEvents(row.id, last_seq, kEventsPerRead);
      if (!events.ok()) return events.status();
      if (events->empty()) break;
      last_seq = events->back().seq;
    }
    auto runner = RolloutRunner::Load({services_.store, services_.steps, services_.hub},
                                      std::move(*record), last_seq);
    if (!runner.ok()) {
      spdlog::error("rollout {}: cannot resume: {}", row.id, runner.status().message());
      continue;
    }
    spdlog::info("rollout {} resumes ({})", row.id, row.state);
    (*runner)->Start(/*resumed=*/true);
    runners_[row.id] = std::move(*runner);
  }
  return Status::Ok();
}

void RolloutManager::Shutdown() {
  // Runners stay allocated until the manager goes: calls still in flight
  // may hold one (they get Unavailable or return at once).
  std::vector<RolloutRunner*> runners;
  {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    for (auto& [id, runner] : runners_) runners.push_back(runner.get());
  }
  for (RolloutRunner* runner : runners) runner->Stop();
}

Result<v1::StartRolloutResponse> RolloutManager::Start(const v1::StartRolloutRequest& request,
                                                       const std::string& actor) {
  std::vector<std::string> hosts(request.hosts().begin(), request.hosts().end());
  return Create(v1::ROLLOUT_DEPLOY, request.strategy(), hosts, nullptr, actor);
}

Result<v1::StartRolloutResponse> RolloutManager::Rollback(const v1::RollbackRolloutRequest& request,
                                                          const std::string& actor) {
  auto earlier = Get(request.id());
  if (!earlier.ok()) return earlier.status();
  if (earlier->kind() == v1::ROLLOUT_CERTIFICATES) {
    return Status::FailedPrecondition(
        "rollout " + request.id() +
        " renewed certificates, which cannot be rolled back (the previous ones are replaced); "
        "to stop trusting a new one, revoke it: toposctl certs revoke SERIAL");
  }
  if (!earlier->done()) {
    return Status::FailedPrecondition("rollout " + request.id() + " is " + earlier->state() +
                                      " and not done; abort it first (toposctl rollout abort " +
                                      request.id() + ")");
  }
  return Create(v1::ROLLOUT_ROLLBACK, request.strategy(), {}, &*earlier, actor);
}

Result<BuildInput> RolloutManager::NewBuildInput(const RolloutStrategy& strategy) {
  controller::PublishedTopology published = services_.replicator.Current();
  if (!published.topology) {
    return Status::FailedPrecondition("no topology is published: run toposctl topology publish first");
  }
  auto enrolled = ReadEnrolled(services_.store, services_.hub);
  if (!enrolled.ok()) return enrolled.status();
  BuildInput input;
  input.published = published.topology;
  input.topology = published.topology.get();
  input.slices = published.slices;  // the published version's index: no second pass
  input.topology_version = published.version;
  input.published_at_unix = published.created_at_unix;
  input.enrolled = std::move(*enrolled);
  input.now = Clock::now();
  input.rollout_id = "r-" + certs::HexEncode(certs::RandomBytes(6));
  input.step_timeout_seconds = static_cast<std::uint32_t>(strategy.step_timeout.count());
  return input;
}

Result<v1::StartRolloutResponse> RolloutManager::Create(v1::RolloutKind kind,
                                                        const v1::RolloutStrategySpec& spec,
                                                        const std::vector<std::string>& only_hosts,
                                                        const v1::Rollout* undo,
                                                        const std::string& actor) {
  auto strategy = StrategyFromSpec(spec);
  if (!strategy.ok()) return strategy.status();
  auto input = NewBuildInput(*strategy);
  if (!input.ok()) return input.status();
  input->roles = PublishedRoles(services_.store, input->topology_version);
  input->resolve = [this](const v1::Service& service) {
    return services_.artifacts.Resolve(service.name(), service.version(), service.artifact());
  };
  input->only_hosts = only_hosts;
  auto built = undo != nullptr ? BuildRollbackRollout(*input, *undo) : BuildDeployRollout(*input);
  if (!built.ok()) return built.status();

  v1::Rollout record;
  record.set_id(input->rollout_id);
  record.set_kind(kind);
  record.set_topology_version(input->topology_version);
  record.set_created_by(actor);
  record.set_created_at_unix_ms(ToUnixMs(input->now));
  if (undo != nullptr) record.set_rollback_of(undo->id());
  const std::string description =
      std::string(undo != nullptr ? "rollback of " + undo->id() : "rollout") +
      " of topology version " + std::to_string(input->topology_version);
  return Launch(std::move(record), *strategy, std::move(*built), description, actor);
}

Result<v1::StartRolloutResponse> RolloutManager::StartCertificates(
    const v1::StartCertificateRolloutRequest& request, const std::string& actor) {
  auto strategy = StrategyFromSpec(request.strategy());
  if (!strategy.ok()) return strategy.status();
  TOPOS_RETURN_IF_ERROR(CheckEffectiveAt(request.effective_at_unix(), Clock::now()));
  auto input = NewBuildInput(*strategy);
  if (!input.ok()) return input.status();
  CertificateSelection selection;
  selection.hosts.assign(request.hosts().begin(), request.hosts().end());
  selection.pools.assign(request.pools().begin(), request.pools().end());
  selection.all = request.all();
  selection.reissue = request.reissue();
  auto built = BuildCertificateRollout(*input, selection);
  if (!built.ok()) return built.status();

  v1::Rollout record;
  record.set_id(input->rollout_id);
  record.set_kind(v1::ROLLOUT_CERTIFICATES);
  record.set_topology_version(input->topology_version);
  record.set_created_by(actor);
  record.set_created_at_unix_ms(ToUnixMs(input->now));
  record.set_reissue(request.reissue());
  record.set_effective_at_unix_ms(request.effective_at_unix() * 1000);
  std::string description = std::string(request.reissue() ? "certificate reissue" : "certificate renewal") +
                            " (topology version " + std::to_string(input->topology_version) + ")";
  if (BeforeEffectiveTime(record, input->now)) {
    description += ", scheduled for " + FormatUnixMs(record.effective_at_unix_ms()) + ",";
  }
  return Launch(std::move(record), *strategy, std::move(*built), description, actor);
}

Result<v1::StartRolloutResponse> RolloutManager::Launch(v1::Rollout record,
                                                        const RolloutStrategy& strategy,
                                                        BuiltRollout built,
                                                        const std::string& description,
                                                        const std::string& actor) {
  auto progress = NewRollout(strategy, built.stages, built.pools);
  if (!progress.ok()) return progress.status();
  const TimePoint now = FromUnixMs(record.created_at_unix_ms());
  WriteProgress(*progress, record);
  ShowSchedule(record, now);
  for (auto& pool : *record.mutable_pools()) {
    for (auto& host : *pool.mutable_hosts()) {
      for (const auto& before : built.before[host.host_fqdn()]) *host.add_before() = before;
    }
  }
  std::vector<std::pair<std::string, std::string>> host_steps;
  for (const auto& [host, steps] : built.steps) {
    v1::RolloutHostSteps stored;
    for (const auto& step : steps) *stored.add_steps() = step;
    host_steps.emplace_back(host, stored.SerializeAsString());
  }
  int host_count = 0;
  for (const auto& pool : built.pools) host_count += static_cast<int>(pool.hosts.size());
  v1::RolloutEvent started;
  started.set_rollout_id(record.id());
  started.set_seq(1);
  started.set_at_unix_ms(record.created_at_unix_ms());
  started.set_kind("rollout-started");
  started.set_message(description + " to " + std::to_string(host_count) + " host" +
                      (host_count == 1 ? "" : "s") + " in " + std::to_string(built.pools.size()) +
                      " pool" + (built.pools.size() == 1 ? "" : "s") + ", started by " + actor);

  std::lock_guard lock(mutex_);
  if (shut_down_) return Status::Unavailable("the controller is shutting down");
  std::map<std::string, std::string, std::less<>> busy;
  for (const auto& [id, runner] : runners_) {
    for (auto& host : runner->BusyHosts()) busy.emplace(std::move(host), id);
  }
  TOPOS_RETURN_IF_ERROR(CheckHostsFree(*progress, busy));

  controller::RolloutRecord row{record.id(), record.state(), false, now,
                                SerializeHeader(record), HostRecords(record)};
  TOPOS_RETURN_IF_ERROR(services_.store.CreateRollout(
      row, {{1, started.SerializeAsString()}}, host_steps));
  auto runner = RolloutRunner::Load({services_.store, services_.steps, services_.hub}, record, 1);
  if (!runner.ok()) return runner.status();
  spdlog::info("operator={} started rollout {} ({} hosts)", actor, record.id(), host_count);
  (*runner)->Start();
  runners_[record.id()] = std::move(*runner);

  v1::StartRolloutResponse response;
  *response.mutable_rollout() = record;
  for (const auto& note : built.left_out) response.add_converged(note);
  return response;
}

RolloutRunner* RolloutManager::FindLocked(const std::string& id) {
  auto it = runners_.find(id);
  return it == runners_.end() ? nullptr : it->second.get();
}

Result<v1::Rollout> RolloutManager::Get(const std::string& id) {
  {
    std::lock_guard lock(mutex_);
    if (RolloutRunner* runner = FindLocked(id)) return runner->Snapshot();
  }
  auto row = services_.store.GetRollout(id);
  if (!row.ok()) return row.status();
  auto record = ReadStoredRollout(*row);
  if (!record.ok()) return Status::Internal(record.status().message());
  return record;
}

Result<std::vector<v1::RolloutEvent>> RolloutManager::Events(const std::string& id,
                                                             std::uint64_t after_seq) {
  auto rows = services_.store.ListRolloutEvents(id, after_seq, kEventsPerRead);
  if (!rows.ok()) return rows.status();
  std::vector<v1::RolloutEvent> events;
  for (const auto& row : *rows) {
    if (!events.emplace_back().ParseFromString(row.event)) {
      return Status::Internal("rollout " + id + ": stored event " + std::to_string(row.seq) +
                              " is unreadable");
    }
  }
  return events;
}

Result<std::vector<v1::Rollout>> RolloutManager::List() {
  auto rows = services_.store.ListRollouts(/*unfinished_only=*/false);
  if (!rows.ok()) return rows.status();
  std::vector<v1::Rollout> rollouts;
  for (const auto& row : *rows) {
    Result<v1::Rollout> current = Status::NotFound("");
    {
      std::lock_guard lock(mutex_);
      if (RolloutRunner* runner = FindLocked(row.id)) current = runner->Snapshot();
    }
    if (!current.ok()) current = ReadStoredRollout(row);
    if (current.ok()) rollouts.push_back(WithoutHosts(std::move(*current)));
  }
  return rollouts;
}

Result<v1::Rollout> RolloutManager::Control(const v1::ControlRolloutRequest& request,
                                            const std::string& actor) {
  RolloutRunner* runner = nullptr;
  {
    std::lock_guard lock(mutex_);
    runner = FindLocked(request.id());
    if (runner == nullptr) {
      auto stored = services_.store.GetRollout(request.id());
      if (!stored.ok()) return stored.status();
      return Status::FailedPrecondition("rollout " + request.id() + " is " + stored->state +
                                        " and done; nothing to change");
    }
  }
  // Runners live until Shutdown, which happens after the server stops calls.
  return runner->Control(request, actor);
}

Result<RolloutManager::EventPage> RolloutManager::WaitForEvents(const std::string& id,
                                                                std::uint64_t after_seq,
                                                                std::chrono::milliseconds timeout) {
  RolloutRunner* runner = nullptr;
  {
    std::lock_guard lock(mutex_);
    runner = FindLocked(id);
  }
  if (runner != nullptr && timeout.count() > 0) {
    runner->WaitAfter(after_seq, timeout);
  } else if (timeout.count() > 0) {
    // Not done yet and no runner (not recovered, or being started): poll.
    std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(100)));
  }
  auto events = Events(id, after_seq);
  if (!events.ok()) return events.status();
  EventPage page;
  page.more = events->size() >= kEventsPerRead;
  page.events = std::move(*events);
  return page;
}

Result<bool> RolloutManager::Done(const std::string& id) {
  {
    std::lock_guard lock(mutex_);
    if (RolloutRunner* runner = FindLocked(id)) return runner->done();
  }
  auto row = services_.store.GetRollout(id);
  if (!row.ok()) return row.status();
  return row->done;
}

}  // namespace topos::rollout
