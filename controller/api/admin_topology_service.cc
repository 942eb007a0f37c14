// AdminServiceHandler, part two: topology versions, configuration export and
// import, replication. (Part one, tokens and hosts, is admin_service.cc; one
// gRPC service, one class, split by subject to keep files readable.)
#include <spdlog/spdlog.h>

#include "controller/api/admin_service.h"
#include "controller/hub/host_status.h"
#include "controller/topology/host_slice.h"
#include "controller/topology/role_catalog.h"
#include "controller/topology/validator.h"
#include "controller/topology/yaml_loader.h"

namespace topos::controller {
namespace {

constexpr std::size_t kMaxTopologyBytes = topology::kMaxYamlFileBytes;
constexpr std::size_t kMaxRolesBytes = 256 * 1024;
constexpr std::size_t kMaxMessageBytes = 1024;
constexpr std::size_t kMaxVersionsPerImport = 10'000;

std::int64_t Unix(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

void Describe(const TopologyVersionRecord& record, topos::v1::TopologyVersion* out) {
  out->set_version(record.version);
  out->set_author(record.author);
  out->set_created_at_unix(Unix(record.created_at));
  out->set_message(record.message);
  out->set_sha256(record.sha256);
  out->set_source_name(record.source_name);
  out->set_topology_yaml(record.topology_yaml);
  out->set_roles_yaml(record.roles_yaml);
}

// Loads and validates a topology with its catalog; every problem in one
// message, one per line.
Result<v1::Topology> LoadValid(const std::string& yaml, const std::string& roles_yaml,
                               const std::string& source_name) {
  auto catalog = topology::RoleCatalog::LoadText(roles_yaml, "roles.yaml");
  if (!catalog.ok()) return catalog.status().WithContext("role catalog");
  auto loaded = topology::LoadYamlAs<v1::Topology>(yaml, source_name);
  if (!loaded.ok()) return loaded.status();
  auto errors = topology::ValidateTopology(loaded->message, loaded->sources, *catalog);
  if (!errors.empty()) {
    std::size_t problems = errors.size();
    if (errors.back().IsSummary()) problems = 0;  // the summary line states the total itself
    std::string text = problems ? std::to_string(problems) + " problem(s); nothing was published:"
                                : std::string("nothing was published; problems:");
    for (const auto& error : errors) text += "\n" + error.ToString();
    return Status::InvalidArgument(text);
  }
  return std::move(loaded->message);
}

}  // namespace

grpc::ServerUnaryReactor* AdminServiceHandler::PublishTopology(
    grpc::CallbackServerContext* context, const topos::v1::PublishTopologyRequest* request,
    topos::v1::PublishTopologyResponse* response) {
  return Run(context, kRoleTopologyAdmin, [this, request, response](const Caller& caller) {
    return DoPublish(caller, *request, response);
  });
}

grpc::Status AdminServiceHandler::DoPublish(const Caller& caller,
                                            const topos::v1::PublishTopologyRequest& request,
                                            topos::v1::PublishTopologyResponse* response) {
  if (request.topology_yaml().empty() || request.topology_yaml().size() > kMaxTopologyBytes) {
    return Invalid("topology is empty or larger than 1 MiB");
  }
  if (request.roles_yaml().size() > kMaxRolesBytes) return Invalid("role catalog over 256 KiB");
  if (request.message().size() > kMaxMessageBytes) return Invalid("message over 1 KiB");
  std::string source = request.source_name().empty() ? "topology.yaml"
                                                     : request.source_name().substr(0, 256);
  std::lock_guard publishing(publish_mutex_);
  auto latest = context_.store.LatestTopologyVersion();
  if (!latest.ok() && latest.status().code() != Status::Code::kNotFound) {
    return ToGrpc(latest.status());
  }
  // Without a catalog, keep the one the latest version was validated with.
  std::string roles = request.roles_yaml();
  if (roles.empty()) {
    if (!latest.ok()) return Invalid("no role catalog: pass --roles FILE for the first publish");
    roles = latest->roles_yaml;
  }
  auto topology = LoadValid(request.topology_yaml(), roles, source);
  if (!topology.ok()) return ToGrpc(topology.status());

  std::string sha = topology::CanonicalSha256(*topology);
  if (latest.ok() && latest->sha256 == sha && latest->roles_yaml == roles) {
    Describe(*latest, response->mutable_version());
    response->mutable_version()->clear_topology_yaml();
    response->mutable_version()->clear_roles_yaml();
    response->set_unchanged(true);
    return grpc::Status::OK;
  }
  TopologyVersionRecord record;
  record.author = caller.subject;
  record.created_at = std::chrono::system_clock::now();
  record.message = request.message();
  record.sha256 = sha;
  record.source_name = source;
  record.topology_yaml = request.topology_yaml();
  record.roles_yaml = roles;
  auto number = context_.store.AppendTopologyVersion(record);
  if (!number.ok()) return ToGrpc(number.status());
  record.version = *number;
  auto pushed = context_.replicator.Publish(record, std::move(*topology));
  spdlog::info("operator={} published topology version {} ({}), pushed to {} host(s), {} changed",
               caller.subject, record.version, sha.substr(0, 12), pushed.sent, pushed.changed);
  record.topology_yaml.clear();
  record.roles_yaml.clear();
  Describe(record, response->mutable_version());
  response->set_hosts_notified(static_cast<std::uint32_t>(pushed.sent));
  response->set_hosts_changed(static_cast<std::uint32_t>(pushed.changed));
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* AdminServiceHandler::GetTopology(
    grpc::CallbackServerContext* context, const topos::v1::GetTopologyRequest* request,
    topos::v1::GetTopologyResponse* response) {
  return Run(context, kAnyRole, [this, request, response](const Caller&) {
    auto record = request->version() == 0
                      ? context_.store.LatestTopologyVersion()
                      : context_.store.GetTopologyVersion(request->version());
    if (!record.ok()) return ToGrpc(record.status());
    Describe(*record, response->mutable_version());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::ListTopologyVersions(
    grpc::CallbackServerContext* context, const topos::v1::ListTopologyVersionsRequest*,
    topos::v1::ListTopologyVersionsResponse* response) {
  return Run(context, kAnyRole, [this, response](const Caller&) {
    auto versions = context_.store.ListTopologyVersions(false);
    if (!versions.ok()) return ToGrpc(versions.status());
    for (const auto& record : *versions) Describe(record, response->add_versions());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::ExportConfig(grpc::CallbackServerContext* context,
                                                            const topos::v1::ExportConfigRequest*,
                                                            topos::v1::ConfigExport* response) {
  return Run(context, kAnyRole, [this, response](const Caller&) {
    auto versions = context_.store.ListTopologyVersions(true);
    if (!versions.ok()) return ToGrpc(versions.status());
    response->set_format(1);
    response->set_exported_at_unix(Unix(std::chrono::system_clock::now()));
    for (const auto& record : *versions) Describe(record, response->add_versions());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::ImportConfig(
    grpc::CallbackServerContext* context, const topos::v1::ImportConfigRequest* request,
    topos::v1::ImportConfigResponse* response) {
  return Run(context, kRoleTopologyAdmin, [this, request, response](const Caller& caller) {
    return DoImport(caller, *request, response);
  });
}

grpc::Status AdminServiceHandler::DoImport(const Caller& caller,
                                           const topos::v1::ImportConfigRequest& request,
                                           topos::v1::ImportConfigResponse* response) {
  const auto& config = request.config();
  if (config.format() != 1) {
    return Invalid("unsupported export format " + std::to_string(config.format()) +
                   " (this controller reads format 1)");
  }
  if (config.versions().empty()) return Invalid("the export holds no topology versions");
  if (static_cast<std::size_t>(config.versions_size()) > kMaxVersionsPerImport) {
    return Invalid("an import holds at most 10000 versions");
  }
  std::vector<TopologyVersionRecord> records;
  for (const auto& version : config.versions()) {
    std::string where = "version " + std::to_string(version.version());
    // Each version must still load and hash to what it claims: an edited or
    // truncated export is refused whole.
    auto loaded = topology::LoadYamlAs<v1::Topology>(version.topology_yaml(), version.source_name());
    if (!loaded.ok()) return Invalid(where + ": " + loaded.status().message());
    if (topology::CanonicalSha256(loaded->message) != version.sha256()) {
      return Invalid(where + ": content does not match its SHA-256 (edited or damaged export)");
    }
    TopologyVersionRecord record;
    record.version = version.version();
    record.author = version.author();
    record.created_at = TimePoint(std::chrono::seconds(version.created_at_unix()));
    record.message = version.message();
    record.sha256 = version.sha256();
    record.source_name = version.source_name();
    record.topology_yaml = version.topology_yaml();
    record.roles_yaml = version.roles_yaml();
    records.push_back(std::move(record));
  }
  std::lock_guard publishing(publish_mutex_);
  Status imported = context_.store.ImportTopologyVersions(records);
  if (!imported.ok()) return ToGrpc(imported);
  Status loaded = context_.replicator.Load(context_.store);
  if (!loaded.ok()) return ToGrpc(loaded);
  std::size_t notified = context_.replicator.PushAll(true).sent;
  spdlog::info("operator={} imported {} topology version(s), pushed to {} host(s)", caller.subject,
               records.size(), notified);
  response->set_versions_imported(static_cast<std::uint32_t>(records.size()));
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* AdminServiceHandler::GetReplicationStatus(
    grpc::CallbackServerContext* context, const topos::v1::GetReplicationStatusRequest*,
    topos::v1::GetReplicationStatusResponse* response) {
  return Run(context, kAnyRole, [this, response](const Caller&) {
    auto hosts = context_.store.ListHosts();
    if (!hosts.ok()) return ToGrpc(hosts.status());
    PublishedTopology published = context_.replicator.Current();
    auto now = std::chrono::system_clock::now();
    for (const auto& host : *hosts) {
      LiveState live = context_.hub.Live(host.fqdn);
      auto* out = response->add_hosts();
      std::uint64_t applied = live.connected ? live.applied_config_version : host.applied_config_version;
      auto applied_at = live.config_applied_at ? live.config_applied_at : host.config_applied_at;
      auto last_seen = live.last_seen ? live.last_seen : host.last_seen;
      out->set_fqdn(host.fqdn);
      out->set_applied_version(applied);
      out->set_published_version(published.version);
      out->set_up_to_date(applied == published.version);
      out->set_published_at_unix(published.created_at_unix);
      out->set_applied_at_unix(applied_at ? Unix(*applied_at) : 0);
      out->set_last_seen_unix(last_seen ? Unix(*last_seen) : 0);
      out->set_status(HostStatusName(ComputeHostStatus(host.removed_at.has_value(), live.connected,
                                                       last_seen, live.heartbeat_interval, now)));
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceHandler::SyncReplication(
    grpc::CallbackServerContext* context, const topos::v1::SyncReplicationRequest* request,
    topos::v1::SyncReplicationResponse* response) {
  return Run(context, kRoleTopologyAdmin, [this, request, response](const Caller& caller) {
    if (context_.replicator.Current().version == 0) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "nothing published yet: run `toposctl topology publish FILE` first");
    }
    std::size_t notified = 0;
    if (request->fqdn().empty()) {
      notified = context_.replicator.PushAll(true).sent;
    } else if (context_.replicator.Push(request->fqdn())) {
      notified = 1;
    } else {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "host " + request->fqdn() +
                              " is not connected or not in the published topology; a connected "
                              "host catches up by itself when it reconnects");
    }
    spdlog::info("operator={} forced a resync of {} host(s)", caller.subject, notified);
    response->set_hosts_notified(static_cast<std::uint32_t>(notified));
    return grpc::Status::OK;
  });
}

}  // namespace topos::controller
