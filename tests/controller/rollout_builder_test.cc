// What a new rollout covers: hosts, stages from the topology's dependencies,
// stored steps, and the rollback of an earlier rollout.
#include "controller/rollout/rollout_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace topos::rollout {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr std::uint64_t kVersion = 3;

// sql (database, sql01) holds chat's database store; chat (chat01, chat02)
// routes through fe (fe01); archive's role is deployed after chat's.
v1::Topology Fleet() {
  v1::Topology topology;
  auto pool = [&](const std::string& name, const std::string& role,
                  std::vector<std::string> hosts) {
    auto* p = topology.add_pools();
    p->set_name(name);
    p->set_fqdn(name + "pool.example.test");
    p->set_role(role);
    for (const auto& host : hosts) {
      p->add_hosts(host);
      topology.add_hosts()->set_fqdn(host);
    }
    return p;
  };
  pool("sql", "database", {"sql01.example.test"});
  pool("fe", "frontend", {"fe01.example.test"});
  auto* chat = pool("chat", "persistent-chat", {"chat01.example.test", "chat02.example.test"});
  chat->set_database_store("chat-db");
  chat->set_routes_through("fe");
  pool("archive", "archiver", {"arc01.example.test"});
  auto* store = topology.add_stores();
  store->set_name("chat-db");
  store->set_host("sql01.example.test");
  for (auto [name, role] : {std::pair{"pchat", "persistent-chat"}, std::pair{"front", "frontend"},
                            std::pair{"archiver", "archiver"}}) {
    auto* service = topology.add_services();
    service->set_name(name);
    service->set_role(role);
    service->set_version("2.0");
    service->set_artifact(std::string(name) + ".tar.gz");
  }
  return topology;
}

v1::ServiceReport Report(const std::string& name, const std::string& version) {
  v1::ServiceReport report;
  report.set_name(name);
  report.set_version(version);
  report.set_state("running");
  report.set_health("healthy");
  return report;
}

class RolloutBuilder : public ::testing::Test {
 protected:
  void SetUp() override {
    input_.topology = &topology_;
    input_.topology_version = kVersion;
    input_.now = std::chrono::system_clock::now();
    input_.rollout_id = "r-0123456789ab";
    input_.resolve = [](const v1::Service& service) -> Result<controller::ArtifactRecord> {
      controller::ArtifactRecord record;
      record.service = service.name();
      record.version = service.version();
      record.sha256 = std::string(64, 'a');
      record.size = 10;
      return record;
    };
    v1::Role archiver;
    archiver.set_name("archiver");
    archiver.add_deploy_after("persistent-chat");
    input_.roles.push_back(archiver);
    // Everyone enrolled but chat02; sql01 (no services) is at the version.
    for (const char* host : {"sql01.example.test", "fe01.example.test", "chat01.example.test",
                             "arc01.example.test"}) {
      input_.enrolled[host].connected = true;
    }
    input_.enrolled["sql01.example.test"].applied_config_version = kVersion;
  }

  v1::Topology topology_ = Fleet();
  BuildInput input_;
};

std::vector<std::string> PoolNames(const BuiltRollout& built) {
  std::vector<std::string> names;
  for (const auto& pool : built.pools) names.push_back(pool.name);
  return names;
}

TEST_F(RolloutBuilder, OrdersPoolsByStoresRoutesAndDeployAfter) {
  input_.enrolled["sql01.example.test"].applied_config_version = 0;  // sql needs its store too
  auto built = BuildDeployRollout(input_);
  ASSERT_TRUE(built.ok()) << built.status().message();
  // sql holds chat's store, fe is what chat routes through, archive's role
  // is deployed after chat's.
  EXPECT_THAT(built->stages, ElementsAre(ElementsAre("fe", "sql"), ElementsAre("chat"),
                                         ElementsAre("archive")));
  EXPECT_THAT(PoolNames(*built), ElementsAre("fe", "sql", "chat", "archive"));
}

TEST_F(RolloutBuilder, LeavesOutConvergedAndUnenrolledHostsButKeepsTheOrder) {
  auto built = BuildDeployRollout(input_);
  ASSERT_TRUE(built.ok()) << built.status().message();
  EXPECT_THAT(built->stages, ElementsAre(ElementsAre("fe"), ElementsAre("chat"), ElementsAre("archive")));
  EXPECT_THAT(built->left_out, UnorderedElementsAre("sql01.example.test: converged",
                                                    "chat02.example.test: not enrolled"));
  ASSERT_EQ(built->pools[1].hosts, std::vector<std::string>{"chat01.example.test"});
  EXPECT_FALSE(built->steps.contains("chat02.example.test"));
}

TEST_F(RolloutBuilder, PlansTheFullChainUnderStepIdsOfTheRollout) {
  auto built = BuildDeployRollout(input_);
  ASSERT_TRUE(built.ok()) << built.status().message();
  const auto& steps = built->steps.at("chat01.example.test");
  ASSERT_GE(steps.size(), 3u);
  EXPECT_EQ(steps.front().kind(), v1::SETUP_LOCAL_STORE);
  EXPECT_EQ(steps.back().kind(), v1::START_SERVICE);
  std::set<std::string> ids;
  for (const auto& [host, host_steps] : built->steps) {
    for (const auto& step : host_steps) {
      EXPECT_EQ(step.step_id().rfind("r-0123456789ab-", 0), 0u) << step.step_id();
      EXPECT_TRUE(ids.insert(step.step_id()).second) << "duplicate id " << step.step_id();
    }
  }
}

TEST_F(RolloutBuilder, RecordsTheVersionsHostsRanBefore) {
  input_.enrolled["chat01.example.test"].services.push_back(Report("pchat", "1.0"));
  auto built = BuildDeployRollout(input_);
  ASSERT_TRUE(built.ok()) << built.status().message();
  const auto& chat = built->before.at("chat01.example.test");
  ASSERT_EQ(chat.size(), 1u);
  EXPECT_EQ(chat[0].service(), "pchat");
  EXPECT_EQ(chat[0].version(), "1.0");
  EXPECT_EQ(built->before.at("fe01.example.test")[0].version(), "");  // not installed
}

TEST_F(RolloutBuilder, HostFilterKeepsOnlyThoseHosts) {
  input_.only_hosts = {"fe01.example.test"};
  auto built = BuildDeployRollout(input_);
  ASSERT_TRUE(built.ok()) << built.status().message();
  EXPECT_THAT(PoolNames(*built), ElementsAre("fe"));
  EXPECT_EQ(built->steps.size(), 1u);
}

TEST_F(RolloutBuilder, RefusesHostsTheTopologyDoesNotNameOrThatNeverEnrolled) {
  input_.only_hosts = {"nowhere.example.test"};
  auto unknown = BuildDeployRollout(input_);
  EXPECT_EQ(unknown.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("no pool of topology version 3"));
  input_.only_hosts = {"chat02.example.test"};
  auto unenrolled = BuildDeployRollout(input_);
  EXPECT_EQ(unenrolled.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(unenrolled.status().message(), HasSubstr("not enrolled"));
}

TEST_F(RolloutBuilder, MissingArtifactRefusesTheWholeRollout) {
  input_.resolve = [](const v1::Service& service) -> Result<controller::ArtifactRecord> {
    return Status::NotFound("no artifact for service \"" + service.name() + "\"");
  };
  auto built = BuildDeployRollout(input_);
  EXPECT_EQ(built.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(built.status().message(), HasSubstr("no artifact for service"));
}

TEST_F(RolloutBuilder, NothingToDoIsRefusedSayingSo) {
  input_.only_hosts = {"sql01.example.test"};
  auto built = BuildDeployRollout(input_);
  EXPECT_EQ(built.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(built.status().message(), HasSubstr("nothing to roll out: 1 host already converged"));
}

// An earlier rollout: chat01 (stage 1) and fe01 (stage 0) deployed, arc01
// never started.
v1::Rollout Earlier() {
  v1::Rollout earlier;
  earlier.set_id("r-aaaaaaaaaaaa");
  auto add = [&](const std::string& pool, int stage, const std::string& host,
                 const std::string& phase, const std::string& service, const std::string& before) {
    auto* p = earlier.add_pools();
    p->set_name(pool);
    p->set_stage(static_cast<std::uint32_t>(stage));
    auto* h = p->add_hosts();
    h->set_host_fqdn(host);
    h->set_phase(phase);
    auto* b = h->add_before();
    b->set_service(service);
    b->set_version(before);
  };
  add("fe", 0, "fe01.example.test", "succeeded", "front", "");
  add("chat", 1, "chat01.example.test", "failed", "pchat", "1.0");
  add("archive", 2, "arc01.example.test", "waiting", "archiver", "1.0");
  return earlier;
}

TEST_F(RolloutBuilder, RollbackRestoresPreviousVersionsDependentsFirst) {
  input_.enrolled["fe01.example.test"].services.push_back(Report("front", "2.0"));
  input_.enrolled["chat01.example.test"].services.push_back(Report("pchat", "2.0"));
  input_.enrolled["arc01.example.test"].services.push_back(Report("archiver", "2.0"));
  auto built = BuildRollbackRollout(input_, Earlier());
  ASSERT_TRUE(built.ok()) << built.status().message();
  EXPECT_THAT(built->stages, ElementsAre(ElementsAre("chat"), ElementsAre("fe")));
  ASSERT_EQ(built->steps.at("chat01.example.test").size(), 1u);
  EXPECT_EQ(built->steps.at("chat01.example.test")[0].kind(), v1::ROLLBACK);
  // fe01 had nothing before: its service goes.
  EXPECT_EQ(built->steps.at("fe01.example.test")[0].kind(), v1::UNINSTALL_SERVICE);
  EXPECT_FALSE(built->steps.contains("arc01.example.test"));  // never started
}

TEST_F(RolloutBuilder, RollbackLeavesHostsThatRunWhatTheyRanBefore) {
  input_.enrolled["chat01.example.test"].services.push_back(Report("pchat", "1.0"));
  input_.enrolled["fe01.example.test"].services.push_back(Report("front", "2.0"));
  auto built = BuildRollbackRollout(input_, Earlier());
  ASSERT_TRUE(built.ok()) << built.status().message();
  EXPECT_THAT(PoolNames(*built), ElementsAre("fe"));
  EXPECT_THAT(built->left_out, ElementsAre("chat01.example.test: runs what it ran before"));
}

TEST_F(RolloutBuilder, RollbackWithNothingToUndoIsRefused) {
  input_.enrolled["chat01.example.test"].services.push_back(Report("pchat", "1.0"));
  auto built = BuildRollbackRollout(input_, Earlier());  // fe01 reports no front: as before
  EXPECT_EQ(built.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(built.status().message(), HasSubstr("nothing to roll back"));
}

}  // namespace
}  // namespace topos::rollout
