#include "controller/topology/host_slice.h"

#include <gtest/gtest.h>

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
