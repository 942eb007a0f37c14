#include "controller/replication/replicator.h"

#include <spdlog/spdlog.h>

#include "controller/topology/host_slice.h"
#include "controller/topology/yaml_loader.h"

namespace topos::controller {
namespace {

std::int64_t Unix(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// `topology` as the current version, with its slice index (built here,
// before any lock is taken: it is linear in the topology's size).
PublishedTopology Published(std::uint64_t version, TimePoint created_at, v1::Topology topology) {
  auto shared = std::make_shared<const v1::Topology>(std::move(topology));
  auto slices = std::make_shared<const topology::HostSliceIndex>(shared);
  return PublishedTopology{version, Unix(created_at), std::move(shared), std::move(slices)};
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
  PublishedTopology published =
      Published(latest->version, latest->created_at, std::move(loaded->message));
  std::lock_guard lock(mutex_);
  current_ = std::move(published);
  return Status::Ok();
}

Replicator::PushCount Replicator::Publish(const TopologyVersionRecord& version,
                                          v1::Topology topology) {
  PublishedTopology published = Published(version.version, version.created_at, std::move(topology));
  {
    std::lock_guard lock(mutex_);
    current_ = std::move(published);
  }
  return PushAll(false);
}

// Sends `fqdn` its slice of the current version; returns whether it was sent
// and whether it was whole.
std::pair<bool, bool> Replicator::Send(const std::string& fqdn, bool whole) {
  PublishedTopology current = Current();
  if (current.version == 0) return {false, false};
  auto slice = current.slices->Build(fqdn, current.version, current.created_at_unix);
  if (!slice) return {false, false};
  v1::ControllerMessage message;
  auto* update = message.mutable_store_update();
  {
    std::lock_guard lock(mutex_);
    auto sent = sent_content_.find(fqdn);
    if (!whole && sent != sent_content_.end() && sent->second == slice->content_sha256()) {
      update->set_content_unchanged(true);
      auto* header = update->mutable_config();
      header->set_version(slice->version());
      header->set_published_at_unix(slice->published_at_unix());
      header->set_host_fqdn(slice->host_fqdn());
      header->set_content_sha256(slice->content_sha256());
    } else {
      sent_content_[fqdn] = slice->content_sha256();
      *update->mutable_config() = std::move(*slice);
    }
  }
  bool is_whole = !update->content_unchanged();
  return {hub_.Send(fqdn, std::move(message)), is_whole};
}

bool Replicator::Push(const std::string& fqdn) { return Send(fqdn, true).first; }

Replicator::PushCount Replicator::PushAll(bool whole_slices) {
  PushCount count;
  for (const auto& fqdn : hub_.ConnectedHosts()) {
    auto [sent, whole] = Send(fqdn, whole_slices);
    count.sent += sent;
    count.changed += sent && whole;
  }
  return count;
}

void Replicator::OnRefused(const std::string& fqdn) {
  {
    std::lock_guard lock(mutex_);
    sent_content_.erase(fqdn);
  }
  executor_.Post([this, fqdn] { Push(fqdn); });
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
