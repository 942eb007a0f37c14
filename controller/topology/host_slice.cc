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

// What the pools a host is in call for: their roles and the stores they name.
struct PoolNeeds {
  std::set<std::string> roles;
  std::set<std::string> store_names;
};

PoolNeeds NeedsOf(const v1::Topology& topology, const std::vector<int>& pools) {
  PoolNeeds needs;
  for (int i : pools) {
    const v1::Pool& pool = topology.pools(i);
    needs.roles.insert(pool.role());
    for (const std::string* store :
         {&pool.database_store(), &pool.file_store(), &pool.compliance_store()}) {
      if (!store->empty()) needs.store_names.insert(*store);
    }
  }
  return needs;
}

// The slice of `host_fqdn`, given the indexes (ascending, in topology order)
// of the pools listing it (not empty), the stores and the services it gets.
// Settings resolve most specific first: a pool's own over global ones.
v1::HostConfig Assemble(const v1::Topology& topology, const std::string& host_fqdn,
                        const std::vector<int>& pools, const std::vector<int>& stores,
                        const std::vector<int>& services, std::uint64_t version,
                        std::int64_t published_at_unix) {
  v1::HostConfig config;
  config.set_host_fqdn(host_fqdn);
  std::map<std::string, std::string> settings;
  for (const auto& setting : topology.settings()) settings[setting.key()] = setting.value();
  for (int i : pools) {
    const v1::Pool& pool = topology.pools(i);
    if (config.site().empty()) config.set_site(pool.site());
    *config.add_pools() = pool;
    for (const auto& setting : pool.settings()) settings[setting.key()] = setting.value();
  }
  for (int i : stores) *config.add_stores() = topology.stores(i);
  for (int i : services) *config.add_services() = topology.services(i);
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

// A host gets the stores its pools use, the backups of those (disaster
// recovery is part of the picture), and the stores it hosts itself.
std::optional<v1::HostConfig> BuildHostSlice(const v1::Topology& topology,
                                             const std::string& host_fqdn, std::uint64_t version,
                                             std::int64_t published_at_unix) {
  std::vector<int> pools;
  for (int i = 0; i < topology.pools_size(); ++i) {
    if (HasHost(topology.pools(i), host_fqdn)) pools.push_back(i);
  }
  if (pools.empty()) return std::nullopt;
  PoolNeeds needs = NeedsOf(topology, pools);
  std::set<std::string> wanted = needs.store_names;
  for (const auto& store : topology.stores()) {
    if (needs.store_names.count(store.name())) wanted.insert(store.backup());
  }
  std::vector<int> stores;
  for (int i = 0; i < topology.stores_size(); ++i) {
    const v1::Store& store = topology.stores(i);
    if (wanted.count(store.name()) || store.host() == host_fqdn) stores.push_back(i);
  }
  std::vector<int> services;
  for (int i = 0; i < topology.services_size(); ++i) {
    if (needs.roles.count(topology.services(i).role())) services.push_back(i);
  }
  return Assemble(topology, host_fqdn, pools, stores, services, version, published_at_unix);
}

HostSliceIndex::HostSliceIndex(std::shared_ptr<const v1::Topology> topology)
    : topology_(std::move(topology)) {
  const v1::Topology& t = *topology_;
  for (int i = 0; i < t.pools_size(); ++i) {
    for (const std::string& host : t.pools(i).hosts()) {
      std::vector<int>& pools = pools_of_host_[host];
      if (pools.empty() || pools.back() != i) pools.push_back(i);  // listed twice: once
    }
  }
  for (int i = 0; i < t.stores_size(); ++i) {
    stores_by_name_[t.stores(i).name()].push_back(i);
    stores_on_host_[t.stores(i).host()].push_back(i);
  }
  for (int i = 0; i < t.services_size(); ++i) services_by_role_[t.services(i).role()].push_back(i);
}

const std::vector<int>* HostSliceIndex::Find(const Indexes& indexes, std::string_view key) const {
  auto it = indexes.find(key);
  return it == indexes.end() ? nullptr : &it->second;
}

std::optional<v1::HostConfig> HostSliceIndex::Build(const std::string& host_fqdn,
                                                    std::uint64_t version,
                                                    std::int64_t published_at_unix) const {
  const std::vector<int>* pools = Find(pools_of_host_, host_fqdn);
  if (pools == nullptr) return std::nullopt;
  const v1::Topology& t = *topology_;
  PoolNeeds needs = NeedsOf(t, *pools);
  // As BuildHostSlice: the stores named, their backups, the host's own.
  std::set<std::string> wanted = needs.store_names;
  for (const std::string& name : needs.store_names) {
    if (const auto* named = Find(stores_by_name_, name)) {
      for (int i : *named) wanted.insert(t.stores(i).backup());
    }
  }
  std::set<int> stores;
  for (const std::string& name : wanted) {
    if (const auto* named = Find(stores_by_name_, name)) {
      stores.insert(named->begin(), named->end());
    }
  }
  if (const auto* own = Find(stores_on_host_, host_fqdn)) stores.insert(own->begin(), own->end());
  std::set<int> services;
  for (const std::string& role : needs.roles) {
    if (const auto* of_role = Find(services_by_role_, role)) {
      services.insert(of_role->begin(), of_role->end());
    }
  }
  return Assemble(t, host_fqdn, *pools, std::vector<int>(stores.begin(), stores.end()),
                  std::vector<int>(services.begin(), services.end()), version, published_at_unix);
}

Placement HostSliceIndex::Place(const std::string& host_fqdn) const {
  Placement placement;
  const std::vector<int>* pools = Find(pools_of_host_, host_fqdn);
  if (pools == nullptr) return placement;
  for (int i : *pools) {
    const v1::Pool& pool = topology_->pools(i);
    if (placement.site.empty()) placement.site = pool.site();
    placement.pools.push_back(pool.name());
  }
  return placement;
}

}  // namespace topos::topology
