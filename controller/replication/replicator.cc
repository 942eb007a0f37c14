#include "controller/replication/replicator.h"

#include <spdlog/spdlog.h>

#include "controller/topology/host_slice.h"
#include "controller/topology/yaml_loader.h"

namespace topos::controller {
namespace {

std::int64_t Unix(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

Status Replicator::Load(Store& store) {
  auto latest = store.LatestTopologyVersion();
  if (!latest.ok()) {
    return latest.status().code() == Status::Code::kNotFound ? Status::Ok() : latest.status();
  }
  auto loaded = topology::LoadYamlAs<v1::Topology>(latest->topology_yaml, latest->source_name);
  if (!loaded.ok()) {
    return Status::Internal("stored topology version " + std::to_string(latest->version) +
                            " no longer loads: " + loaded.status().message());
  }
  std::lock_guard lock(mutex_);
  current_ = PublishedTopology{latest->version, Unix(latest->created_at),
                               std::make_shared<const v1::Topology>(std::move(loaded->message))};
  return Status::Ok();
}

std::size_t Replicator::Publish(const TopologyVersionRecord& version, v1::Topology topology) {
  {
    std::lock_guard lock(mutex_);
    current_ = PublishedTopology{version.version, Unix(version.created_at),
                                 std::make_shared<const v1::Topology>(std::move(topology))};
  }
  return PushAll();
}

bool Replicator::Push(const std::string& fqdn) {
  PublishedTopology current = Current();
  if (current.version == 0) return false;
  auto slice = topology::BuildHostSlice(*current.topology, fqdn, current.version,
                                        current.created_at_unix);
  if (!slice) return false;
  v1::ControllerMessage message;
  *message.mutable_store_update()->mutable_config() = std::move(*slice);
  return hub_.Send(fqdn, std::move(message));
}

std::size_t Replicator::PushAll() {
  std::size_t sent = 0;
  for (const auto& fqdn : hub_.ConnectedHosts()) sent += Push(fqdn) ? 1 : 0;
  return sent;
}

void Replicator::OnHello(const std::string& fqdn, std::uint64_t applied) {
  std::uint64_t published;
  {
    std::lock_guard lock(mutex_);
    published = current_.version;
  }
  if (published == 0 || applied == published) return;
  executor_.Post([this, fqdn, applied, published] {
    if (Push(fqdn)) {
      spdlog::info("host={} catching up from local store version {} to {}", fqdn, applied,
                   published);
    }
  });
}

PublishedTopology Replicator::Current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

}  // namespace topos::controller
