// What a certificate rollout covers (certificate_rollout_builder.h): the
// selection, the hosts left out, the steps with their reissue flag, the one
// stage; the --effective-at range; and the "scheduled" state's stored form.
#include "controller/rollout/certificate_rollout_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controller/rollout/engine.h"
#include "controller/rollout/rollout_codec.h"

namespace topos::rollout {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr std::uint64_t kVersion = 4;

// web (web01, web02) runs "api" (certificate) and "cron" (none); db (db01)
// runs "sql" (no certificate); edge (edge01) runs "proxy" (certificate)
// and, as a member of web too, edge01 carries web's services.
v1::Topology Fleet() {
  v1::Topology topology;
  auto pool = [&](const std::string& name, const std::string& role,
                  std::vector<std::string> hosts) {
    auto* p = topology.add_pools();
    p->set_name(name);
    p->set_fqdn(name + ".example.test");
    p->set_role(role);
    for (const auto& host : hosts) p->add_hosts(host);
  };
  for (const char* host : {"web01.example.test", "web02.example.test", "db01.example.test",
                           "edge01.example.test", "web03.example.test"}) {
    topology.add_hosts()->set_fqdn(host);
  }
  pool("web", "web", {"web01.example.test", "web02.example.test", "web03.example.test"});
  pool("db", "database", {"db01.example.test"});
  pool("edge", "edge", {"edge01.example.test"});
  auto service = [&](const std::string& name, const std::string& role, bool certificate) {
    auto* s = topology.add_services();
    s->set_name(name);
    s->set_role(role);
    s->set_version("1.0");
    if (certificate) s->mutable_certificate()->add_names(name + ".example.test");
  };
  service("api", "web", true);
  service("cron", "web", false);
  service("sql", "database", false);
  service("proxy", "edge", true);
  service("admin", "edge", true);
  return topology;
}

CertificateSelection All(bool reissue) {
  CertificateSelection selection;
  selection.all = true;
  selection.reissue = reissue;
  return selection;
}
CertificateSelection Pools(std::vector<std::string> pools) {
  CertificateSelection selection;
  selection.pools = std::move(pools);
  return selection;
}
CertificateSelection Hosts(std::vector<std::string> hosts) {
  CertificateSelection selection;
  selection.hosts = std::move(hosts);
  return selection;
}
CertificateSelection PoolsAndAll(std::vector<std::string> pools) {
  CertificateSelection selection = Pools(std::move(pools));
  selection.all = true;
  return selection;
}

class CertificateRolloutBuilder : public ::testing::Test {
 protected:
  void SetUp() override {
    input_.topology = &topology_;
    input_.topology_version = kVersion;
    input_.now = std::chrono::system_clock::now();
    input_.rollout_id = "r-00000000cafe";
    input_.step_timeout_seconds = 120;
    // web03 is in the topology but never enrolled.
    for (const char* host : {"web01.example.test", "web02.example.test", "db01.example.test",
                             "edge01.example.test"}) {
      input_.enrolled[host] = Installed({"api", "cron", "sql", "proxy", "admin"});
    }
  }

  // A host reporting these services installed (whatever its slice holds).
  static HostActual Installed(const std::vector<std::string>& services) {
    HostActual actual;
    for (const auto& name : services) {
      auto& report = actual.services.emplace_back();
      report.set_name(name);
      report.set_version("1.0");
    }
    return actual;
  }

  Result<BuiltRollout> Build(CertificateSelection selection) {
    return BuildCertificateRollout(input_, selection);
  }

  v1::Topology topology_ = Fleet();
  BuildInput input_;
};

TEST_F(CertificateRolloutBuilder, AllRenewsEveryCertificateBoundServiceInOneStage) {
  auto built = Build(All(true));
  ASSERT_TRUE(built.ok()) << built.status().message();
  ASSERT_EQ(built->pools.size(), 2u);
  EXPECT_EQ(built->pools[0].name, "web");
  EXPECT_THAT(built->pools[0].hosts, ElementsAre("web01.example.test", "web02.example.test"));
  EXPECT_EQ(built->pools[1].name, "edge");
  EXPECT_THAT(built->pools[1].hosts, ElementsAre("edge01.example.test"));
  // Certificates do not depend on each other: one stage, topology order.
  ASSERT_EQ(built->stages.size(), 1u);
  EXPECT_THAT(built->stages[0], ElementsAre("web", "edge"));
  EXPECT_THAT(built->left_out,
              UnorderedElementsAre("web03.example.test: not enrolled",
                                   "db01.example.test: runs no installed service with a certificate binding"));

  const auto& web01 = built->steps.at("web01.example.test");
  ASSERT_EQ(web01.size(), 2u);  // "cron" has no certificate binding
  EXPECT_EQ(web01[0].kind(), v1::REQUEST_CERTIFICATE);
  EXPECT_EQ(web01[0].service(), "api");
  EXPECT_TRUE(web01[0].reissue());
  EXPECT_EQ(web01[0].step_id(), "r-00000000cafe-1-1");
  EXPECT_EQ(web01[0].deadline_seconds(), 120u);
  EXPECT_EQ(web01[1].kind(), v1::ASSIGN_CERTIFICATE);
  EXPECT_EQ(web01[1].service(), "api");
  EXPECT_FALSE(web01[1].reissue());
  EXPECT_EQ(web01[1].step_id(), "r-00000000cafe-1-2");
  EXPECT_EQ(built->steps.at("web02.example.test")[0].step_id(), "r-00000000cafe-2-1");

  const auto& edge01 = built->steps.at("edge01.example.test");
  ASSERT_EQ(edge01.size(), 4u);
  EXPECT_EQ(edge01[0].service(), "proxy");
  EXPECT_EQ(edge01[2].service(), "admin");
  EXPECT_EQ(edge01[3].step_id(), "r-00000000cafe-3-4");
  EXPECT_FALSE(built->steps.contains("db01.example.test"));
}

TEST_F(CertificateRolloutBuilder, WithoutReissueTheRequestsAskOnlyWhenDue) {
  auto built = Build(Pools({"edge"}));
  ASSERT_TRUE(built.ok()) << built.status().message();
  for (const auto& step : built->steps.at("edge01.example.test")) {
    EXPECT_FALSE(step.reissue()) << step.step_id();
  }
}

TEST_F(CertificateRolloutBuilder, PoolAndHostSelectOnlyThose) {
  auto by_pool = Build(Pools({"edge"}));
  ASSERT_TRUE(by_pool.ok()) << by_pool.status().message();
  ASSERT_EQ(by_pool->pools.size(), 1u);
  EXPECT_THAT(by_pool->pools[0].hosts, ElementsAre("edge01.example.test"));
  EXPECT_TRUE(by_pool->left_out.empty());

  auto by_host = Build(Hosts({"web02.example.test"}));
  ASSERT_TRUE(by_host.ok()) << by_host.status().message();
  ASSERT_EQ(by_host->pools.size(), 1u);
  EXPECT_EQ(by_host->pools[0].name, "web");
  EXPECT_THAT(by_host->pools[0].hosts, ElementsAre("web02.example.test"));
  EXPECT_EQ(by_host->steps.size(), 1u);
}

TEST_F(CertificateRolloutBuilder, AHostInTwoPoolsIsRenewedOnceWithAllItsServices) {
  topology_.mutable_pools(2)->add_hosts("web01.example.test");  // edge also lists web01
  auto built = Build(All(false));
  ASSERT_TRUE(built.ok()) << built.status().message();
  EXPECT_THAT(built->pools[0].hosts, ElementsAre("web01.example.test", "web02.example.test"));
  EXPECT_THAT(built->pools[1].hosts, ElementsAre("edge01.example.test"));
  // web01's slice holds both pools' services: api, proxy and admin.
  EXPECT_EQ(built->steps.at("web01.example.test").size(), 6u);
  // The engine accepts it (a host listed twice would be refused).
  RolloutStrategy strategy;
  EXPECT_TRUE(NewRollout(strategy, built->stages, built->pools).ok());
}

TEST_F(CertificateRolloutBuilder, SelectionMistakesAreRefusedNamingThem) {
  auto none = Build(CertificateSelection());
  EXPECT_EQ(none.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(none.status().message(), HasSubstr("exactly one of --pool"));
  auto two = Build(PoolsAndAll({"web"}));
  EXPECT_EQ(two.status().code(), Status::Code::kInvalidArgument);

  auto unknown_pool = Build(Pools({"web", "chat"}));
  EXPECT_EQ(unknown_pool.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(unknown_pool.status().message(),
              HasSubstr("--pool chat: topology version 4 has no such pool"));

  auto unknown_host = Build(Hosts({"nope.example.test"}));
  EXPECT_EQ(unknown_host.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(unknown_host.status().message(), HasSubstr("--host nope.example.test: no pool"));

  auto not_enrolled = Build(Hosts({"web03.example.test"}));
  EXPECT_EQ(not_enrolled.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(not_enrolled.status().message(),
              HasSubstr("--host web03.example.test: not enrolled (toposctl token create"));
}

TEST_F(CertificateRolloutBuilder, OnlyServicesTheHostReportsInstalledAreRenewed) {
  // web02 has not been deployed yet; edge01 runs proxy but not admin.
  input_.enrolled["web02.example.test"] = Installed({});
  input_.enrolled["edge01.example.test"] = Installed({"proxy"});
  auto built = Build(All(true));
  ASSERT_TRUE(built.ok()) << built.status().message();
  EXPECT_THAT(built->pools[0].hosts, ElementsAre("web01.example.test"));
  EXPECT_THAT(built->left_out,
              ::testing::Contains(HasSubstr("web02.example.test: runs no installed service")));
  ASSERT_EQ(built->steps["edge01.example.test"].size(), 2u);
  EXPECT_EQ(built->steps["edge01.example.test"][0].service(), "proxy");
}

TEST_F(CertificateRolloutBuilder, NothingToRenewIsAFailedPreconditionSayingWhy) {
  auto db_only = Build(Pools({"db"}));
  EXPECT_EQ(db_only.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(db_only.status().message(),
              HasSubstr("1 run no installed service with a certificate binding and 0 are not enrolled"));
  input_.enrolled.clear();
  input_.enrolled["db01.example.test"] = HostActual{};
  auto all = Build(All(false));
  EXPECT_EQ(all.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(all.status().message(), HasSubstr("and 4 are not enrolled"));
}

TEST(CertificateRolloutEffectiveAt, AcceptsNowUpTo30DaysAheadAndAMinuteBehind) {
  const TimePoint now = FromUnixMs(1'800'000'000'000);
  const std::int64_t now_unix = 1'800'000'000;
  EXPECT_TRUE(CheckEffectiveAt(0, now).ok());
  EXPECT_TRUE(CheckEffectiveAt(now_unix, now).ok());
  EXPECT_TRUE(CheckEffectiveAt(now_unix - 60, now).ok());
  EXPECT_TRUE(CheckEffectiveAt(now_unix + 30 * 86400, now).ok());

  auto past = CheckEffectiveAt(now_unix - 61, now);
  EXPECT_EQ(past.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(past.message(), HasSubstr("2027-01-15T07:58:59Z is in the past"));
  auto far = CheckEffectiveAt(now_unix + 30 * 86400 + 1, now);
  EXPECT_EQ(far.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(far.message(), HasSubstr("more than 30 days ahead"));
}

TEST(CertificateRolloutSchedule, ScheduledShowsUntilTheEffectiveTimeAndReadsAsRunning) {
  const TimePoint now = FromUnixMs(1'800'000'000'000);
  RolloutStrategy strategy;
  auto progress = NewRollout(strategy, {{"web"}}, {{"web", {"web01.example.test"}}});
  ASSERT_TRUE(progress.ok());
  v1::Rollout record;
  record.set_id("r-00000000cafe");
  record.set_effective_at_unix_ms(ToUnixMs(now) + 2000);
  WriteProgress(*progress, record);
  ShowSchedule(record, now);
  EXPECT_EQ(record.state(), "scheduled");
  EXPECT_TRUE(BeforeEffectiveTime(record, now));
  auto read = ReadProgress(record);
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->state, RunState::kRunning);

  // At the effective time it is running again.
  WriteProgress(*read, record);
  ShowSchedule(record, now + std::chrono::seconds(2));
  EXPECT_EQ(record.state(), "running");
  EXPECT_FALSE(BeforeEffectiveTime(record, now + std::chrono::seconds(2)));

  // Paused while scheduled: it shows paused, not scheduled.
  auto paused = Pause(*read);
  ASSERT_TRUE(paused.ok());
  WriteProgress(*paused, record);
  ShowSchedule(record, now);
  EXPECT_EQ(record.state(), "paused");

  // No effective time: never scheduled.
  record.set_effective_at_unix_ms(0);
  WriteProgress(*read, record);
  ShowSchedule(record, now);
  EXPECT_EQ(record.state(), "running");
}

}  // namespace
}  // namespace topos::rollout
