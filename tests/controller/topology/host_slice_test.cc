#include "controller/topology/host_slice.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "controller/topology/yaml_loader.h"

namespace topos::topology {
namespace {

v1::Topology Example(const std::string& name) {
  auto loaded = LoadYamlFileAs<v1::Topology>(std::string(TOPOS_EXAMPLES_DIR) + "/pchat/" + name);
  EXPECT_TRUE(loaded.ok()) << loaded.status().message();
  return loaded->message;
}

TEST(BuildHostSlice, ChatServerGetsItsPoolStoresServicesAndSettings) {
  v1::Topology topology = Example("topology.yaml");
  auto* global = topology.add_settings();
  global->set_key("chat.enabled");
  global->set_value("off");
  for (auto& pool : *topology.mutable_pools()) {
    if (pool.name() != "chat") continue;
    auto* own = pool.add_settings();
    own->set_key("chat.enabled");
    own->set_value("on");
  }
  auto slice = BuildHostSlice(topology, "chat01.contoso.test", 7, 1700000000);
  ASSERT_TRUE(slice.has_value());
  EXPECT_EQ(slice->version(), 7u);
  EXPECT_EQ(slice->site(), "redmond");
  ASSERT_EQ(slice->pools_size(), 1);
  EXPECT_EQ(slice->pools(0).name(), "chat");
  // The chat pool's database, its backup, file and compliance stores.
  EXPECT_GE(slice->stores_size(), 3);
  for (const auto& service : slice->services()) EXPECT_EQ(service.role(), slice->pools(0).role());
  // The pool's own setting wins over the global one.
  ASSERT_EQ(slice->settings_size(), 1);
  EXPECT_EQ(slice->settings(0).value(), "on");
}

TEST(BuildHostSlice, HostOutsideTheTopologyGetsNothing) {
  EXPECT_FALSE(BuildHostSlice(Example("topology.yaml"), "stray.contoso.test", 1, 0).has_value());
}

TEST(BuildHostSlice, ContentHashIgnoresVersionButNotContent) {
  v1::Topology topology = Example("topology.yaml");
  auto a = BuildHostSlice(topology, "fe01.contoso.test", 1, 100);
  auto b = BuildHostSlice(topology, "fe01.contoso.test", 2, 200);
  EXPECT_EQ(a->content_sha256(), b->content_sha256());
  topology.mutable_pools(0)->set_fqdn("other.contoso.test");
  auto c = BuildHostSlice(topology, "fe01.contoso.test", 3, 300);
  EXPECT_NE(a->content_sha256(), c->content_sha256());
}

TEST(BuildHostSlice, SingleServerCarriesEveryCollocatedPool) {
  v1::Topology topology = Example("standard.yaml");
  ASSERT_GE(topology.hosts_size(), 1);
  auto slice = BuildHostSlice(topology, topology.hosts(0).fqdn(), 1, 0);
  ASSERT_TRUE(slice.has_value());
  EXPECT_EQ(slice->pools_size(), topology.pools_size());
}

// Two pools, a single server carrying a collocated pool, stores with
// backups on other hosts, a store that only lives on a host, services of two
// roles, and a host listed twice in its pool.
constexpr const char* kMixed = R"(
sites: [{name: a}, {name: b}]
hosts:
  - fqdn: web1.t.test
  - fqdn: web2.t.test
  - fqdn: db1.t.test
  - fqdn: db2.t.test
  - fqdn: solo.t.test
pools:
  - name: web
    fqdn: web.t.test
    role: front
    site: a
    hosts: [web1.t.test, web2.t.test, web1.t.test]
    database_store: web-db
    settings: [{key: tier, value: web}]
  - name: solo
    fqdn: solo.t.test
    role: single
    site: b
    hosts: [solo.t.test]
  - name: solo-extra
    fqdn: solo.t.test
    role: front
    site: b
    hosts: [solo.t.test]
    file_store: solo-files
    settings: [{key: tier, value: extra}]
stores:
  - {name: web-db, kind: database, host: db1.t.test, backup: web-db-copy}
  - {name: web-db-copy, kind: database, host: db2.t.test}
  - {name: unrelated, kind: database, host: db2.t.test, backup: web-db-copy}
  - {name: local-scratch, kind: file, host: web2.t.test}
  - {name: solo-files, kind: file, host: solo.t.test}
services:
  - {name: gateway, role: front}
  - {name: engine, role: single}
  - {name: gateway-2, role: front}
settings: [{key: tier, value: global}, {key: region, value: eu}]
)";

v1::Topology Mixed() {
  auto loaded = LoadYamlAs<v1::Topology>(kMixed, "mixed.yaml");
  EXPECT_TRUE(loaded.ok()) << loaded.status().message();
  return loaded->message;
}

std::vector<std::string> Names(const auto& elements) {
  std::vector<std::string> names;
  for (const auto& element : elements) names.push_back(element.name());
  return names;
}

TEST(BuildHostSlice, StoresAreTheUsedOnesTheirBackupsAndTheHostsOwn) {
  v1::Topology topology = Mixed();
  auto web1 = BuildHostSlice(topology, "web1.t.test", 1, 0);
  ASSERT_TRUE(web1.has_value());
  // The store its pool uses and that store's backup; not the unrelated store
  // that shares the backup, nor a store on another host of the pool.
  EXPECT_EQ(Names(web1->stores()), (std::vector<std::string>{"web-db", "web-db-copy"}));
  // Listed twice in its pool, it is in that pool once.
  EXPECT_EQ(Names(web1->pools()), (std::vector<std::string>{"web"}));
  EXPECT_EQ(Names(web1->services()), (std::vector<std::string>{"gateway", "gateway-2"}));
  auto web2 = BuildHostSlice(topology, "web2.t.test", 1, 0);
  ASSERT_TRUE(web2.has_value());
  EXPECT_EQ(Names(web2->stores()),
            (std::vector<std::string>{"web-db", "web-db-copy", "local-scratch"}));
  // A store's host that is in no pool gets no slice.
  EXPECT_FALSE(BuildHostSlice(topology, "db1.t.test", 1, 0).has_value());
}

TEST(BuildHostSlice, SingleServerGetsEveryPoolItCarriesInOrder) {
  auto solo = BuildHostSlice(Mixed(), "solo.t.test", 1, 0);
  ASSERT_TRUE(solo.has_value());
  EXPECT_EQ(solo->site(), "b");
  EXPECT_EQ(Names(solo->pools()), (std::vector<std::string>{"solo", "solo-extra"}));
  EXPECT_EQ(Names(solo->stores()), (std::vector<std::string>{"solo-files"}));
  EXPECT_EQ(Names(solo->services()), (std::vector<std::string>{"gateway", "engine", "gateway-2"}));
  // Settings sorted by key; the last pool's own value wins over the global one.
  ASSERT_EQ(solo->settings_size(), 2);
  EXPECT_EQ(solo->settings(0).key(), "region");
  EXPECT_EQ(solo->settings(1).key(), "tier");
  EXPECT_EQ(solo->settings(1).value(), "extra");
}

// The index must give, byte for byte, what BuildHostSlice and PlaceHost give:
// replication sends the index's slices, deploy and rollouts plan from
// BuildHostSlice's, and agents compare content hashes.
void ExpectIndexMatches(const v1::Topology& topology) {
  HostSliceIndex index(std::make_shared<const v1::Topology>(topology));
  std::vector<std::string> fqdns = {"stray.t.test", ""};
  for (const auto& host : topology.hosts()) fqdns.push_back(host.fqdn());
  for (const auto& store : topology.stores()) fqdns.push_back(store.host());
  for (const std::string& fqdn : fqdns) {
    SCOPED_TRACE(fqdn);
    auto expected = BuildHostSlice(topology, fqdn, 9, 1700000000);
    auto actual = index.Build(fqdn, 9, 1700000000);
    ASSERT_EQ(actual.has_value(), expected.has_value());
    if (expected) {
      EXPECT_EQ(actual->SerializeAsString(), expected->SerializeAsString());
      EXPECT_EQ(actual->content_sha256(), expected->content_sha256());
    }
    Placement expected_place = PlaceHost(topology, fqdn);
    Placement actual_place = index.Place(fqdn);
    EXPECT_EQ(actual_place.site, expected_place.site);
    EXPECT_EQ(actual_place.pools, expected_place.pools);
  }
}

TEST(HostSliceIndex, GivesWhatBuildHostSliceAndPlaceHostGive) {
  ExpectIndexMatches(Mixed());
  ExpectIndexMatches(Example("topology.yaml"));
  ExpectIndexMatches(Example("standard.yaml"));
  ExpectIndexMatches(v1::Topology());
}

TEST(HostSliceIndex, GivesTheSameSlicesForAFleetOfPools) {
  // Many pools of ten, each with a database store backed up on the next
  // pool's first host: every host's slice is its own pool's.
  v1::Topology topology;
  topology.add_sites()->set_name("s");
  constexpr int kPools = 30;
  for (int p = 0; p < kPools; ++p) {
    auto* pool = topology.add_pools();
    pool->set_name("pool-" + std::to_string(p));
    pool->set_fqdn("pool-" + std::to_string(p) + ".t.test");
    pool->set_role(p % 2 ? "odd" : "even");
    pool->set_site("s");
    pool->set_database_store("db-" + std::to_string(p));
    for (int h = 0; h < 10; ++h) {
      std::string fqdn = "h" + std::to_string(p * 10 + h) + ".t.test";
      topology.add_hosts()->set_fqdn(fqdn);
      pool->add_hosts(fqdn);
    }
    auto* store = topology.add_stores();
    store->set_name("db-" + std::to_string(p));
    store->set_kind(v1::STORE_KIND_DATABASE);
    store->set_host("h" + std::to_string(((p + 1) % kPools) * 10) + ".t.test");
    store->set_backup("db-" + std::to_string((p + 1) % kPools));
  }
  topology.add_services()->set_name("svc-even");
  topology.mutable_services(0)->set_role("even");
  ExpectIndexMatches(topology);
  HostSliceIndex index(std::make_shared<const v1::Topology>(topology));
  auto slice = index.Build("h5.t.test", 1, 0);
  ASSERT_TRUE(slice.has_value());
  EXPECT_EQ(Names(slice->pools()), (std::vector<std::string>{"pool-0"}));
  EXPECT_EQ(Names(slice->stores()), (std::vector<std::string>{"db-0", "db-1"}));
  EXPECT_EQ(Names(slice->services()), (std::vector<std::string>{"svc-even"}));
  // h10 hosts db-0 and is in pool-1 (db-1, backed up on db-2).
  auto h10 = index.Build("h10.t.test", 1, 0);
  ASSERT_TRUE(h10.has_value());
  EXPECT_EQ(Names(h10->stores()), (std::vector<std::string>{"db-0", "db-1", "db-2"}));
  EXPECT_TRUE(h10->services().empty());
}

TEST(CanonicalSha256, SameContentSameHashWhateverTheFormatting) {
  auto a = LoadYamlAs<v1::Topology>("sites: [{name: a}]\n", "a.yaml");
  auto b = LoadYamlAs<v1::Topology>("# comment\nsites:\n  - name: a\n", "b.yaml");
  auto c = LoadYamlAs<v1::Topology>("sites: [{name: b}]\n", "c.yaml");
  EXPECT_EQ(CanonicalSha256(a->message), CanonicalSha256(b->message));
  EXPECT_NE(CanonicalSha256(a->message), CanonicalSha256(c->message));
}

TEST(PlaceHost, NamesSiteAndPools) {
  auto placement = PlaceHost(Example("topology.yaml"), "fe01.contoso.test");
  EXPECT_EQ(placement.site, "redmond");
  ASSERT_EQ(placement.pools.size(), 1u);
  EXPECT_TRUE(PlaceHost(Example("topology.yaml"), "nobody.test").pools.empty());
}

}  // namespace
}  // namespace topos::topology
