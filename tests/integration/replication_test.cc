// Topology publishing and local management store replication, end to end in
// one process: real controller, real agents, real mutual TLS.
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "agent/localstore/local_store.h"
#include "common/file_io.h"
#include "tests/integration/fleet_fixture.h"

namespace topos::testing {
namespace {

using Stub = topos::v1::AdminService::Stub;
const std::vector<std::string> kHosts = {"fe01.contoso.test", "chat01.contoso.test",
                                         "chat02.contoso.test"};

class ReplicationTest : public FleetTest {
 protected:
  static std::string Example(const std::string& name) {
    return *ReadFile(std::filesystem::path(TOPOS_EXAMPLES_DIR) / "pchat" / name);
  }

  grpc::Status Publish(const std::string& yaml, topos::v1::PublishTopologyResponse* response,
                       const std::string& roles = Example("roles.yaml")) {
    topos::v1::PublishTopologyRequest request;
    request.set_topology_yaml(yaml);
    request.set_roles_yaml(roles);
    request.set_source_name("topology.yaml");
    request.set_message("test");
    auto context = Context();
    return AdminStub()->PublishTopology(context.get(), request, response);
  }

  std::uint64_t Publish(const std::string& yaml) {
    topos::v1::PublishTopologyResponse response;
    grpc::Status status = Publish(yaml, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.version().version();
  }

  std::map<std::string, topos::v1::HostReplication> Replication() {
    topos::v1::GetReplicationStatusResponse response;
    auto context = Context();
    EXPECT_TRUE(AdminStub()->GetReplicationStatus(context.get(), {}, &response).ok());
    std::map<std::string, topos::v1::HostReplication> by_host;
    for (const auto& host : response.hosts()) by_host[host.fqdn()] = host;
    return by_host;
  }

  bool AllAt(const std::vector<std::string>& hosts, std::uint64_t version) {
    auto status = Replication();
    for (const auto& host : hosts) {
      if (status[host].applied_version() != version || !status[host].up_to_date()) return false;
    }
    return true;
  }

  // Enrolls and connects kHosts, publishes the example as version 1 and
  // waits until every host has applied it.
  void ConnectAllAtVersion1(std::vector<std::unique_ptr<agent::ControllerLink>>& links) {
    for (const auto& host : kHosts) {
      ASSERT_TRUE(EnrollHost(host).ok());
      links.push_back(StartLink(host));
    }
    ASSERT_TRUE(Eventually([&] { return controller_->connected_agents() == 3; }));
    ASSERT_EQ(Publish(Example("topology.yaml")), 1u);
    ASSERT_TRUE(Eventually([&] { return AllAt(kHosts, 1); }));
  }

  // The topology with one more global setting: a new version.
  static std::string WithSetting(const std::string& key, const std::string& value) {
    return Example("topology.yaml") + "\nsettings:\n  - key: " + key + "\n    value: \"" + value +
           "\"\n";
  }
};

TEST_F(ReplicationTest, PublishReachesOnlineHostsAndOfflineHostCatchesUpAfterRestart) {
  std::vector<std::unique_ptr<agent::ControllerLink>> links;
  ASSERT_NO_FATAL_FAILURE(ConnectAllAtVersion1(links));

  // One host goes away; v2 reaches the two that are online.
  links[2]->Stop();
  ASSERT_TRUE(links[2]->Wait().ok());
  ASSERT_EQ(Publish(WithSetting("chat.retention_days", "30")), 2u);
  ASSERT_TRUE(Eventually([&] { return AllAt({kHosts[0], kHosts[1]}, 2); }));
  EXPECT_EQ(Replication()[kHosts[2]].applied_version(), 1u);
  EXPECT_FALSE(Replication()[kHosts[2]].up_to_date());

  // The controller restarts in between: nothing published is lost.
  StopController();
  StartController();
  EXPECT_TRUE(Eventually([&] { return AllAt({kHosts[0], kHosts[1]}, 2); }, std::chrono::seconds(30)));

  // The third host returns and catches up from its Hello.
  links[2] = StartLink(kHosts[2]);
  ASSERT_TRUE(Eventually([&] { return AllAt(kHosts, 2); }));

  // What the services on the host read: the slice with the new setting.
  auto store = agent::LocalStore::Open(StateDirOf(kHosts[2]));
  ASSERT_TRUE(store.ok());
  auto config = (*store)->Current();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->version(), 2u);
  EXPECT_EQ(config->host_fqdn(), kHosts[2]);
  ASSERT_EQ(config->pools_size(), 1);
  EXPECT_EQ(config->pools(0).name(), "chat");
  bool found = false;
  for (const auto& setting : config->settings()) {
    found |= setting.key() == "chat.retention_days" && setting.value() == "30";
  }
  EXPECT_TRUE(found);
  auto snapshot = ReadFile(StateDirOf(kHosts[2]) / "store" / "current.json");
  ASSERT_TRUE(snapshot.ok());
  EXPECT_NE(snapshot->find("\"version\": \"2\""), std::string::npos) << *snapshot;
}

// v2 changes only the chat pool: its hosts get their whole new slice, the
// front end only the new version number.
std::string WithChatPoolSetting(std::string yaml) {
  const std::string anchor = "    routes_through: fe\n";
  auto at = yaml.find(anchor);
  EXPECT_NE(at, std::string::npos);
  yaml.insert(at + anchor.size(), "    settings: [{key: chat.history_days, value: \"90\"}]\n");
  return yaml;
}

TEST_F(ReplicationTest, OnlyChangedSlicesAreSentWhole) {
  std::vector<std::unique_ptr<agent::ControllerLink>> links;
  ASSERT_NO_FATAL_FAILURE(ConnectAllAtVersion1(links));

  topos::v1::PublishTopologyResponse response;
  ASSERT_TRUE(Publish(WithChatPoolSetting(Example("topology.yaml")), &response).ok());
  EXPECT_EQ(response.hosts_notified(), 3u);
  EXPECT_EQ(response.hosts_changed(), 2u);  // chat01, chat02
  ASSERT_TRUE(Eventually([&] { return AllAt(kHosts, 2); }));
  links[0]->Stop();
  auto store = agent::LocalStore::Open(StateDirOf(kHosts[0]));
  ASSERT_TRUE(store.ok());
  auto config = (*store)->Current();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->version(), 2u);
  EXPECT_EQ(config->pools(0).name(), "fe");  // content kept under the new version
}

TEST_F(ReplicationTest, HostWhoseContentDiffersGetsTheWholeSlice) {
  std::vector<std::unique_ptr<agent::ControllerLink>> links;
  ASSERT_NO_FATAL_FAILURE(ConnectAllAtVersion1(links));

  // fe01's local store is damaged behind the agent's back: same version,
  // other content.
  links[0]->Stop();
  ASSERT_TRUE(links[0]->Wait().ok());
  {
    auto store = agent::LocalStore::Open(StateDirOf(kHosts[0]));
    ASSERT_TRUE(store.ok());
    auto damaged = *(*store)->Current();
    damaged.clear_pools();
    damaged.set_content_sha256("damaged");
    ASSERT_TRUE((*store)->Apply(damaged, kHosts[0]).ok());
  }
  links[0] = StartLink(kHosts[0]);
  ASSERT_TRUE(Eventually([&] { return controller_->connected_agents() == 3; }));

  // v2 leaves fe01's slice unchanged: the version-only update is refused
  // (content differs) and the controller sends the whole slice instead.
  ASSERT_EQ(Publish(WithChatPoolSetting(Example("topology.yaml"))), 2u);
  ASSERT_TRUE(Eventually([&] { return AllAt(kHosts, 2); }));
  links[0]->Stop();
  auto store = agent::LocalStore::Open(StateDirOf(kHosts[0]));
  ASSERT_TRUE(store.ok());
  auto repaired = (*store)->Current();
  ASSERT_TRUE(repaired.ok());
  ASSERT_EQ(repaired->pools_size(), 1);
  EXPECT_EQ(repaired->pools(0).name(), "fe");
  EXPECT_NE(repaired->content_sha256(), "damaged");
}

TEST_F(ReplicationTest, InvalidTopologyIsRefusedWholeWithEveryProblem) {
  std::string broken = Example("topology.yaml");
  auto at = broken.find("file_store:");
  ASSERT_NE(at, std::string::npos);
  broken.replace(at, std::string("file_store:").size(), "# file_store:");
  topos::v1::PublishTopologyResponse response;
  grpc::Status status = Publish(broken, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("needs-file-store"), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("topology.yaml:"), std::string::npos);

  topos::v1::ListTopologyVersionsResponse versions;
  auto context = Context();
  ASSERT_TRUE(AdminStub()->ListTopologyVersions(context.get(), {}, &versions).ok());
  EXPECT_EQ(versions.versions_size(), 0);
}

TEST_F(ReplicationTest, SameContentIsNotPublishedTwiceAndVersionsAreImmutable) {
  ASSERT_EQ(Publish(Example("topology.yaml")), 1u);
  // Same content with other formatting and comments: unchanged.
  topos::v1::PublishTopologyResponse response;
  ASSERT_TRUE(Publish("# a comment\n" + Example("topology.yaml"), &response).ok());
  EXPECT_TRUE(response.unchanged());
  EXPECT_EQ(response.version().version(), 1u);
  ASSERT_EQ(Publish(WithSetting("k", "v")), 2u);

  topos::v1::GetTopologyRequest request;
  request.set_version(1);
  topos::v1::GetTopologyResponse first;
  auto context = Context();
  ASSERT_TRUE(AdminStub()->GetTopology(context.get(), request, &first).ok());
  EXPECT_EQ(first.version().topology_yaml(), Example("topology.yaml"));
  EXPECT_EQ(first.version().author(), "admin");
  EXPECT_EQ(first.version().sha256().size(), 64u);
}

TEST_F(ReplicationTest, ExportImportSeedsANewController) {
  ASSERT_EQ(Publish(Example("topology.yaml")), 1u);
  ASSERT_EQ(Publish(WithSetting("k", "v")), 2u);
  topos::v1::ConfigExport exported;
  {
    auto context = Context();
    ASSERT_TRUE(AdminStub()->ExportConfig(context.get(), {}, &exported).ok());
  }
  ASSERT_EQ(exported.versions_size(), 2);

  // Importing into a controller that already has versions is refused.
  topos::v1::ImportConfigRequest request;
  *request.mutable_config() = exported;
  topos::v1::ImportConfigResponse response;
  {
    auto context = Context();
    grpc::Status refused = AdminStub()->ImportConfig(context.get(), request, &response);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  // A fresh controller takes it, and an edited export is refused.
  StopController();
  std::filesystem::remove_all(data_dir_);
  controller::InitOptions init;
  init.data_dir = data_dir_;
  init.name = "controller.topos.test";
  init.listen = "127.0.0.1:0";
  ASSERT_TRUE(controller::InitDataDir(init).ok());
  port_ = 0;
  StartController();
  auto tampered = request;
  tampered.mutable_config()->mutable_versions(1)->set_topology_yaml(Example("standard.yaml"));
  {
    auto context = Context();
    grpc::Status refused = AdminStub()->ImportConfig(context.get(), tampered, &response);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(refused.error_message().find("SHA-256"), std::string::npos);
  }
  {
    auto context = Context();
    ASSERT_TRUE(AdminStub()->ImportConfig(context.get(), request, &response).ok());
  }
  EXPECT_EQ(response.versions_imported(), 2u);
  ASSERT_EQ(Publish(WithSetting("k", "w")), 3u);  // numbering continues
}

TEST_F(ReplicationTest, HostsListFlagsUnenrolledAndUnknownHosts) {
  ASSERT_TRUE(EnrollHost(kHosts[0]).ok());
  ASSERT_TRUE(EnrollHost("stray.contoso.test").ok());
  ASSERT_EQ(Publish(Example("topology.yaml")), 1u);
  auto hosts = ListHosts();
  EXPECT_EQ(hosts.published_version(), 1u);
  std::map<std::string, topos::v1::HostInfo> by_host;
  for (const auto& host : hosts.hosts()) by_host[host.fqdn()] = host;
  EXPECT_TRUE(by_host[kHosts[0]].in_topology());
  EXPECT_EQ(by_host[kHosts[0]].site(), "redmond");
  EXPECT_FALSE(by_host["stray.contoso.test"].in_topology());
  ASSERT_TRUE(by_host.count("chat02.contoso.test"));
  EXPECT_FALSE(by_host["chat02.contoso.test"].enrolled());
  EXPECT_EQ(by_host["chat02.contoso.test"].status(), "not enrolled");
}

// The example fleet plus a branch site whose one server carries two pools (a
// standard front end and a collocated chat pool): a host in several pools,
// hosts in different sites, hosts in no pool.
std::string TwoSiteTopology(const std::string& example) {
  std::string yaml = example;
  auto insert_after = [&yaml](const std::string& key, const std::string& text) {
    auto at = yaml.find("\n" + key + "\n");
    ASSERT_NE(at, std::string::npos) << key;
    yaml.insert(at + key.size() + 2, text);
  };
  insert_after("sites:", "  - name: branch\n");
  insert_after("hosts:", "  - fqdn: se01.contoso.test\n");
  insert_after("pools:",
               "  - name: se\n    fqdn: se01.contoso.test\n    role: frontend-standard\n"
               "    site: branch\n    hosts: [se01.contoso.test]\n"
               "  - name: branch-chat\n    fqdn: se01.contoso.test\n    role: persistent-chat\n"
               "    site: branch\n    hosts: [se01.contoso.test]\n"
               "    database_store: branch-db\n    file_store: branch-files\n"
               "    routes_through: se\n");
  insert_after("stores:",
               "  - name: branch-db\n    kind: database\n    host: se01.contoso.test\n"
               "  - name: branch-files\n    kind: file\n    host: se01.contoso.test\n"
               "    path: /srv/topos/branch-files\n");
  return yaml;
}

struct Placed {
  std::string site;
  std::vector<std::string> pools;
  bool in_topology = false;
  bool enrolled = false;
  bool operator==(const Placed&) const = default;
};

void PrintTo(const Placed& placed, std::ostream* out) {
  *out << "{site \"" << placed.site << "\", pools [";
  for (const auto& pool : placed.pools) *out << pool << ' ';
  *out << "], in_topology " << placed.in_topology << ", enrolled " << placed.enrolled << '}';
}

Placed PlacedOf(const topos::v1::HostInfo& info) {
  return {info.site(), {info.pools().begin(), info.pools().end()}, info.in_topology(),
          info.enrolled()};
}

TEST_F(ReplicationTest, HostsListPlacesEveryHostInItsSiteAndPoolsOfTheCurrentVersion) {
  const std::string se = "se01.contoso.test";
  const std::string stray = "stray.contoso.test";
  for (const auto& host : {kHosts[0], kHosts[1], se, stray}) ASSERT_TRUE(EnrollHost(host).ok());
  auto get_host = [this](const std::string& fqdn) {
    topos::v1::GetHostRequest request;
    request.set_fqdn(fqdn);
    topos::v1::GetHostResponse response;
    auto context = Context();
    grpc::Status status = AdminStub()->GetHost(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return PlacedOf(response.host());
  };
  auto list = [this](std::uint64_t version) {
    auto hosts = ListHosts();
    EXPECT_EQ(hosts.published_version(), version);
    std::map<std::string, Placed> by_host;
    std::vector<std::string> not_enrolled;  // in the order listed
    for (const auto& host : hosts.hosts()) {
      EXPECT_TRUE(by_host.emplace(host.fqdn(), PlacedOf(host)).second) << host.fqdn() << " twice";
      if (!host.enrolled()) {
        EXPECT_EQ(host.status(), "not enrolled") << host.fqdn();
        not_enrolled.push_back(host.fqdn());
      }
    }
    return std::make_pair(by_host, not_enrolled);
  };

  // Nothing published: every host is enrolled, none is placed.
  {
    auto [by_host, not_enrolled] = list(0);
    EXPECT_EQ(by_host.size(), 4u);
    EXPECT_TRUE(not_enrolled.empty());
    for (const auto& [fqdn, placed] : by_host) {
      EXPECT_EQ(placed, (Placed{"", {}, false, true})) << fqdn;
    }
    EXPECT_EQ(get_host(se), (Placed{"", {}, false, true}));
  }

  ASSERT_EQ(Publish(TwoSiteTopology(Example("topology.yaml"))), 1u);
  {
    auto [by_host, not_enrolled] = list(1);
    const std::map<std::string, Placed> expected = {
        {"fe01.contoso.test", {"redmond", {"fe"}, true, true}},
        {"chat01.contoso.test", {"redmond", {"chat"}, true, true}},
        {se, {"branch", {"se", "branch-chat"}, true, true}},  // topology's pool order
        {stray, {"", {}, false, true}},
        {"fe02.contoso.test", {"redmond", {"fe"}, true, false}},
        {"chat02.contoso.test", {"redmond", {"chat"}, true, false}},
        {"sql01.contoso.test", {"redmond", {"sql"}, true, false}},
        {"sql02.contoso.test", {"redmond", {"sql"}, true, false}},
        {"fs01.contoso.test", {"redmond", {"files"}, true, false}},
    };
    EXPECT_EQ(by_host, expected);
    // Hosts never enrolled follow the topology's host order.
    EXPECT_EQ(not_enrolled,
              (std::vector<std::string>{"fe02.contoso.test", "chat02.contoso.test",
                                        "sql01.contoso.test", "sql02.contoso.test",
                                        "fs01.contoso.test"}));
    EXPECT_EQ(get_host(se), (Placed{"branch", {"se", "branch-chat"}, true, true}));
    EXPECT_EQ(get_host(kHosts[1]), (Placed{"redmond", {"chat"}, true, true}));
    EXPECT_EQ(get_host(stray), (Placed{"", {}, false, true}));
  }

  // A new version without the branch: the lists follow it, not version 1.
  ASSERT_EQ(Publish(Example("topology.yaml")), 2u);
  {
    auto [by_host, not_enrolled] = list(2);
    EXPECT_EQ(by_host.size(), 9u);
    EXPECT_EQ(by_host[se], (Placed{"", {}, false, true}));
    EXPECT_EQ(by_host["fe01.contoso.test"], (Placed{"redmond", {"fe"}, true, true}));
    EXPECT_EQ(by_host["fs01.contoso.test"], (Placed{"redmond", {"files"}, true, false}));
    EXPECT_EQ(not_enrolled.size(), 5u);
    EXPECT_EQ(get_host(se), (Placed{"", {}, false, true}));
  }
}

}  // namespace
}  // namespace topos::testing
