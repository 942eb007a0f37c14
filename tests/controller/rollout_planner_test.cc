#include "controller/rollout/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace topos::rollout {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Clock = std::chrono::system_clock;

const Clock::time_point kNow = Clock::time_point(std::chrono::seconds(1'800'000'000));
constexpr char kHost[] = "chat01.example.test";

// chat01 in pool chatpool; pchat (with a certificate binding asking for one
// extra name) and worker (no certificate), at published version 4.
v1::HostConfig Desired() {
  v1::HostConfig slice;
  slice.set_version(4);
  slice.set_host_fqdn(kHost);
  auto* pool = slice.add_pools();
  pool->set_name("chat");
  pool->set_fqdn("chatpool.example.test");
  pool->add_hosts(kHost);
  pool->add_hosts("chat02.example.test");
  auto* other = slice.add_pools();  // a pool the host only uses: not in its certificate
  other->set_name("fe");
  other->set_fqdn("fepool.example.test");
  other->add_hosts("fe01.example.test");
  auto* pchat = slice.add_services();
  pchat->set_name("pchat");
  pchat->set_version("6.0.9320");
  pchat->mutable_certificate()->set_cert_file("tls/cert.pem");
  pchat->mutable_certificate()->add_names("chat.example.test");
  auto* worker = slice.add_services();
  worker->set_name("worker");
  worker->set_version("2.0");
  return slice;
}

v1::ServiceReport Running(const std::string& name, const std::string& version) {
  v1::ServiceReport report;
  report.set_name(name);
  report.set_version(version);
  report.set_state("running");
  report.set_pid(4242);
  report.set_health("healthy");
  return report;
}

// Runs pchat with a certificate for the right names valid `days_left` more days.
v1::ServiceReport RunningPchat(const std::string& version = "6.0.9320", int days_left = 25) {
  v1::ServiceReport report = Running("pchat", version);
  for (const char* name : {kHost, "chatpool.example.test", "chat.example.test"}) {
    report.add_certificate_names(name);
  }
  report.set_certificate_not_after_unix(
      std::chrono::duration_cast<std::chrono::seconds>(
          (kNow + std::chrono::hours(24 * days_left)).time_since_epoch())
          .count());
  return report;
}

HostActual Converged() {
  HostActual actual;
  actual.applied_config_version = 4;
  actual.connected = true;
  actual.services = {RunningPchat(), Running("worker", "2.0")};
  return actual;
}

Result<controller::ArtifactRecord> Found(const v1::Service& service) {
  controller::ArtifactRecord record;
  record.service = service.name();
  record.version = service.version();
  record.sha256 = std::string(64, 'a');
  record.size = 1000;
  return record;
}

HostPlan Plan(const HostActual& actual, const v1::HostConfig& desired = Desired()) {
  return PlanHost(desired, actual, Found, kNow);
}

// "install_service pchat" per change, to compare whole plans at once.
std::vector<std::string> Steps(const HostPlan& plan) {
  std::vector<std::string> steps;
  for (const auto& change : plan.changes) {
    steps.push_back(controller::StepKindName(change.kind) +
                    (change.service.empty() ? "" : " " + change.service));
  }
  return steps;
}

const PlannedChange* Find(const HostPlan& plan, v1::StepKind kind, const std::string& service) {
  for (const auto& change : plan.changes) {
    if (change.kind == kind && change.service == service) return &change;
  }
  return nullptr;
}

TEST(RolloutPlanner, ConvergedHostGetsNoChanges) {
  HostPlan plan = Plan(Converged());
  EXPECT_TRUE(plan.converged());
  EXPECT_TRUE(plan.changes.empty());
  EXPECT_TRUE(plan.notes.empty());
  EXPECT_TRUE(plan.error.empty());
  EXPECT_EQ(plan.host_fqdn, kHost);
}

TEST(RolloutPlanner, ConvergedEvenWhenOfflineAndCertificateNamesInAnotherOrder) {
  HostActual actual = Converged();
  actual.connected = false;
  auto* names = actual.services[0].mutable_certificate_names();
  std::reverse(names->begin(), names->end());
  HostPlan plan = Plan(actual);
  EXPECT_TRUE(plan.converged()) << (plan.changes.empty() ? "" : plan.changes[0].reason);
  EXPECT_TRUE(plan.notes.empty()) << "an offline converged host needs no warning";
}

TEST(RolloutPlanner, StoreBehindPlansOnlySetupLocalStore) {
  HostActual actual = Converged();
  actual.applied_config_version = 3;
  HostPlan plan = Plan(actual);
  EXPECT_FALSE(plan.converged());
  EXPECT_THAT(Steps(plan), ElementsAre("setup_local_store"));
  EXPECT_EQ(plan.changes[0].reason, "local store at version 3, published 4");

  actual.applied_config_version = 0;
  EXPECT_EQ(Plan(actual).changes[0].reason, "no local store yet, published 4");
}

TEST(RolloutPlanner, FreshHostGetsTheWholeChainInDeployOrder) {
  HostActual actual;
  actual.connected = true;
  HostPlan plan = Plan(actual);
  EXPECT_THAT(Steps(plan),
              ElementsAre("setup_local_store", "check_prerequisites pchat", "install_service pchat",
                          "request_certificate pchat", "assign_certificate pchat",
                          "start_service pchat", "check_prerequisites worker",
                          "install_service worker", "start_service worker"));
  EXPECT_EQ(Find(plan, v1::INSTALL_SERVICE, "pchat")->reason,
            "install pchat 6.0.9320 (not installed)");
  EXPECT_THAT(Find(plan, v1::REQUEST_CERTIFICATE, "pchat")->reason, HasSubstr("none assigned"));
  EXPECT_EQ(Find(plan, v1::START_SERVICE, "pchat")->reason,
            "start pchat 6.0.9320: new version and certificate");
  EXPECT_EQ(Find(plan, v1::START_SERVICE, "worker")->reason, "start worker 2.0: new version");
  EXPECT_TRUE(plan.notes.empty());
}

TEST(RolloutPlanner, NewVersionRestartsTheRunningServiceAndChecksPrerequisitesFirst) {
  HostActual actual = Converged();
  actual.services[0] = RunningPchat("6.0.9319");
  HostPlan plan = Plan(actual);
  EXPECT_THAT(Steps(plan), ElementsAre("check_prerequisites pchat", "install_service pchat",
                                       "start_service pchat"));
  EXPECT_EQ(plan.changes[1].reason, "install pchat 6.0.9320 (host runs 6.0.9319)");
  EXPECT_EQ(plan.changes[2].reason, "restart pchat: new version")
      << "the service runs now, but the install makes a restart part of the chain";
}

TEST(RolloutPlanner, NewVersionOfAStoppedServiceSaysItIsInstalledNotRunning) {
  HostActual actual = Converged();
  actual.services[1] = Running("worker", "1.9");
  actual.services[1].set_state("stopped");
  HostPlan plan = Plan(actual);
  EXPECT_THAT(Steps(plan), ElementsAre("check_prerequisites worker", "install_service worker",
                                       "start_service worker"));
  EXPECT_EQ(plan.changes[1].reason, "install worker 2.0 (host has 1.9 installed)");
  EXPECT_EQ(plan.changes[2].reason, "start worker 2.0: new version");
}

TEST(RolloutPlanner, MissingCertificatePlansRequestAssignAndRestart) {
  HostActual actual = Converged();
  actual.services[0].clear_certificate_names();
  actual.services[0].set_certificate_not_after_unix(0);
  HostPlan plan = Plan(actual);
  EXPECT_THAT(Steps(plan), ElementsAre("request_certificate pchat", "assign_certificate pchat",
                                       "start_service pchat"));
  EXPECT_EQ(plan.changes[0].reason, "request a certificate for pchat: none assigned");
  EXPECT_EQ(plan.changes[2].reason, "restart pchat: new certificate");
}

TEST(RolloutPlanner, ExpiringCertificateIsRenewedWithTenDaysLeftNotEleven) {
  HostActual actual = Converged();
  actual.services[0] = RunningPchat("6.0.9320", 11);
  EXPECT_TRUE(Plan(actual).converged()) << "11 days of 30 left is more than a third";

  actual.services[0] = RunningPchat("6.0.9320", 3);
  HostPlan plan = Plan(actual);
  EXPECT_THAT(Steps(plan), ElementsAre("request_certificate pchat", "assign_certificate pchat",
                                       "start_service pchat"));
  EXPECT_THAT(plan.changes[0].reason, HasSubstr("certificate expires in 3d"));
  EXPECT_THAT(plan.changes[0].reason, HasSubstr("a third of its 30-day lifetime, 10d"));
  EXPECT_EQ(plan.changes[2].reason, "restart pchat: new certificate");
}

TEST(RolloutPlanner, ExpiredCertificateSaysSince) {
  HostActual actual = Converged();
  actual.services[0] = RunningPchat("6.0.9320", -2);
  HostPlan plan = Plan(actual);
  ASSERT_THAT(Steps(plan), ElementsAre("request_certificate pchat", "assign_certificate pchat",
                                       "start_service pchat"));
  EXPECT_THAT(plan.changes[0].reason, HasSubstr("certificate expired 2d ago"));
}

TEST(RolloutPlanner, CertificateForOtherNamesIsReplaced) {
  HostActual actual = Converged();
  actual.services[0].clear_certificate_names();
  actual.services[0].add_certificate_names(kHost);
  actual.services[0].add_certificate_names("chatpool.example.test");
  HostPlan plan = Plan(actual);
  EXPECT_THAT(Steps(plan), ElementsAre("request_certificate pchat", "assign_certificate pchat",
                                       "start_service pchat"));
  EXPECT_EQ(plan.changes[0].reason,
            "request a certificate for pchat: certificate names differ: wants chat01.example.test, "
            "chatpool.example.test, chat.example.test (has chat01.example.test, "
            "chatpool.example.test)");
}

TEST(RolloutPlanner, ServiceWithoutBindingNeedsNoCertificate) {
  HostActual actual = Converged();
  ASSERT_TRUE(actual.services[1].certificate_names().empty());
  EXPECT_EQ(Find(Plan(actual), v1::REQUEST_CERTIFICATE, "worker"), nullptr);
}

TEST(RolloutPlanner, StoppedOrFailedServiceIsOnlyStarted) {
  HostActual actual = Converged();
  actual.services[1].set_state("stopped");
  HostPlan plan = Plan(actual);
  EXPECT_THAT(Steps(plan), ElementsAre("start_service worker"));
  EXPECT_EQ(plan.changes[0].reason, "start worker (stopped)");

  actual.services[1].set_state("failed");
  actual.services[1].set_restarts(5);
  plan = Plan(actual);
  EXPECT_THAT(Steps(plan), ElementsAre("start_service worker"));
  EXPECT_EQ(plan.changes[0].reason, "start worker (failed after 5 restarts)");

  actual.services[1].set_state("installed");  // stopped by an operator
  plan = Plan(actual);
  EXPECT_THAT(Steps(plan), ElementsAre("start_service worker"));
  EXPECT_EQ(plan.changes[0].reason, "start worker (installed, not running)");
}

TEST(RolloutPlanner, RunningButUnhealthyIsRestarted) {
  HostActual actual = Converged();
  actual.services[1].set_health("unhealthy");
  HostPlan plan = Plan(actual);
  EXPECT_THAT(Steps(plan), ElementsAre("start_service worker"));
  EXPECT_EQ(plan.changes[0].reason, "restart worker (running but unhealthy)");
}

TEST(RolloutPlanner, ServiceNoLongerInTheTopologyIsANoteNotAStep) {
  HostActual actual = Converged();
  actual.services.push_back(Running("topos-other", "1.0"));
  HostPlan plan = Plan(actual);
  EXPECT_TRUE(plan.converged());
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_EQ(plan.notes[0],
            "topos-other is installed but no longer in the topology (toposctl service uninstall "
            "topos-other --host chat01.example.test)");
}

TEST(RolloutPlanner, OfflineHostWithChangesSaysItMustConnect) {
  HostActual actual = Converged();
  actual.connected = false;
  actual.applied_config_version = 2;
  HostPlan plan = Plan(actual);
  EXPECT_THAT(Steps(plan), ElementsAre("setup_local_store"));
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_THAT(plan.notes[0], HasSubstr("offline"));
}

TEST(RolloutPlanner, MissingArtifactGivesTheErrorInsteadOfSteps) {
  HostActual actual;  // would need every step
  auto missing = [](const v1::Service& service) -> Result<controller::ArtifactRecord> {
    if (service.name() == "worker") {
      return Status::NotFound("no artifact for worker 2.0: run toposctl artifact push");
    }
    return Found(service);
  };
  HostPlan plan = PlanHost(Desired(), actual, missing, kNow);
  EXPECT_FALSE(plan.converged());
  EXPECT_TRUE(plan.changes.empty());
  EXPECT_EQ(plan.error, "no artifact for worker 2.0: run toposctl artifact push");
}

TEST(RolloutPlanner, EmptySliceOnAStoreAtVersionIsConverged) {
  v1::HostConfig desired;
  desired.set_version(4);
  desired.set_host_fqdn(kHost);
  HostActual actual;
  actual.applied_config_version = 4;
  EXPECT_TRUE(Plan(actual, desired).converged());
}

}  // namespace
}  // namespace topos::rollout
