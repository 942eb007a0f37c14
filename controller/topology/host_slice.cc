#include "controller/topology/host_slice.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <map>
#include <set>

#include "certs/crypto.h"

namespace topos::topology {
namespace {

std::string Deterministic(const google::protobuf::Message& message) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

bool HasHost(const v1::Pool& pool, const std::string& fqdn) {
  return std::find(pool.hosts().begin(), pool.hosts().end(), fqdn) != pool.hosts().end();
}

}  // namespace

std::string CanonicalSha256(const v1::Topology& topology) {
  return certs::Sha256Hex(Deterministic(topology));
}

Placement PlaceHost(const v1::Topology& topology, const std::string& host_fqdn) {
  Placement placement;
  for (const auto& pool : topology.pools()) {
    if (!HasHost(pool, host_fqdn)) continue;
    if (placement.site.empty()) placement.site = pool.site();
    placement.pools.push_back(pool.name());
  }
  return placement;
}

std::optional<v1::HostConfig> BuildHostSlice(const v1::Topology& topology,
                                             const std::string& host_fqdn, std::uint64_t version,
                                             std::int64_t published_at_unix) {
  v1::HostConfig config;
  config.set_host_fqdn(host_fqdn);
  std::set<std::string> roles, store_names;
  // Settings resolve most specific first: a pool's own over global ones.
  std::map<std::string, std::string> settings;
  for (const auto& setting : topology.settings()) settings[setting.key()] = setting.value();
  for (const auto& pool : topology.pools()) {
    if (!HasHost(pool, host_fqdn)) continue;
    if (config.site().empty()) config.set_site(pool.site());
    *config.add_pools() = pool;
    roles.insert(pool.role());
    for (const std::string* store : {&pool.database_store(), &pool.file_store(),
                                     &pool.compliance_store()}) {
      if (!store->empty()) store_names.insert(*store);
    }
    for (const auto& setting : pool.settings()) settings[setting.key()] = setting.value();
  }
  if (config.pools().empty()) return std::nullopt;
  for (const auto& store : topology.stores()) {
    bool used = store_names.count(store.name()) > 0;
    // A backup of a used store is part of the picture (disaster recovery).
    bool backup_of_used = false;
    for (const auto& other : topology.stores()) {
      if (store_names.count(other.name()) && other.backup() == store.name()) backup_of_used = true;
    }
    if (used || backup_of_used || store.host() == host_fqdn) *config.add_stores() = store;
  }
  for (const auto& service : topology.services()) {
    if (roles.count(service.role())) *config.add_services() = service;
  }
  for (const auto& [key, value] : settings) {
    auto* setting = config.add_settings();
    setting->set_key(key);
    setting->set_value(value);
  }
  config.set_content_sha256(certs::Sha256Hex(Deterministic(config)));
  config.set_version(version);
  config.set_published_at_unix(published_at_unix);
  return config;
}

}  // namespace topos::topology
