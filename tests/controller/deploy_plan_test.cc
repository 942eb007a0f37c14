#include "controller/deploy/deploy_plan.h"

#include <gtest/gtest.h>

#include <set>

namespace topos::controller {
namespace {

v1::HostConfig Slice() {
  v1::HostConfig slice;
  slice.set_version(7);
  slice.set_host_fqdn("chat01.example.test");
  auto* web = slice.add_services();
  web->set_name("web");
  web->set_version("1.0");
  web->mutable_certificate()->set_cert_file("tls/cert.pem");
  auto* worker = slice.add_services();
  worker->set_name("worker");
  worker->set_version("2.0");
  return slice;
}

Result<ArtifactRecord> Found(const v1::Service& service) {
  ArtifactRecord record;
  record.service = service.name();
  record.version = service.version();
  record.sha256 = std::string(64, service.name() == "web" ? 'a' : 'b');
  record.size = 1000;
  return record;
}

std::vector<std::string> Kinds(const std::vector<v1::RunStep>& steps) {
  std::vector<std::string> kinds;
  for (const auto& step : steps) kinds.push_back(StepKindName(step.kind()) + " " + step.service());
  return kinds;
}

TEST(DeployPlan, StoreFirstThenEachServiceInOrderWithCertificateStepsOnlyWhereBound) {
  auto steps = PlanHostDeploy(Slice(), Found, "deploy-x", 60);
  ASSERT_TRUE(steps.ok()) << steps.status().message();
  EXPECT_EQ(Kinds(*steps),
            (std::vector<std::string>{"setup_local_store ", "check_prerequisites web",
                                      "install_service web", "request_certificate web",
                                      "assign_certificate web", "start_service web",
                                      "check_prerequisites worker", "install_service worker",
                                      "start_service worker"}));
  EXPECT_EQ((*steps)[0].config_version(), 7u);
  EXPECT_EQ((*steps)[2].artifact().sha256(), std::string(64, 'a'));
  EXPECT_EQ((*steps)[7].artifact().sha256(), std::string(64, 'b'));
  std::set<std::string> ids;
  for (const auto& step : *steps) {
    EXPECT_EQ(step.deadline_seconds(), 60u);
    EXPECT_EQ(step.step_id().rfind("deploy-x-", 0), 0u) << step.step_id();
    ids.insert(step.step_id());
  }
  EXPECT_EQ(ids.size(), steps->size()) << "step ids must be unique";
}

TEST(DeployPlan, AMissingArtifactPlansNothingAndSaysWhy) {
  auto steps = PlanHostDeploy(
      Slice(),
      [](const v1::Service& service) -> Result<ArtifactRecord> {
        if (service.name() == "worker") return Status::NotFound("push worker 2.0 first");
        return Found(service);
      },
      "deploy-x", 60);
  ASSERT_FALSE(steps.ok());
  EXPECT_EQ(steps.status().message(), "push worker 2.0 first");
}

TEST(DeployPlan, ServiceActionIsOneStep) {
  auto steps = PlanServiceAction(Slice(), v1::ROLLBACK, "web", "deploy-y", 30);
  ASSERT_TRUE(steps.ok()) << steps.status().message();
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].kind(), v1::ROLLBACK);
  EXPECT_EQ((*steps)[0].service(), "web");
  EXPECT_EQ((*steps)[0].deadline_seconds(), 30u);
}

TEST(DeployPlan, ServiceActionRefusesOtherKindsUnknownServicesAndMissingNames) {
  auto install = PlanServiceAction(Slice(), v1::INSTALL_SERVICE, "web", "p", 30);
  ASSERT_FALSE(install.ok());
  EXPECT_NE(install.status().message().find("must be start_service, stop_service"), std::string::npos);
  auto unknown = PlanServiceAction(Slice(), v1::START_SERVICE, "gone", "p", 30);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "service \"gone\" does not run on chat01.example.test in topology version 7");
  EXPECT_FALSE(PlanServiceAction(Slice(), v1::STOP_SERVICE, "", "p", 30).ok());
  // A service that left the topology can still be stopped and uninstalled.
  EXPECT_TRUE(PlanServiceAction(Slice(), v1::UNINSTALL_SERVICE, "gone", "p", 30).ok());
}

TEST(DeployPlan, DescribesStepsForHumans) {
  v1::RunStep install;
  install.set_kind(v1::INSTALL_SERVICE);
  install.set_service("web");
  install.mutable_artifact()->set_sha256("0123456789abcdef" + std::string(48, '0'));
  install.mutable_artifact()->set_size(3'100'000);
  EXPECT_EQ(DescribeStep(install), "install_service web (artifact 0123456789ab, 3.1 MB)");
  v1::RunStep store;
  store.set_kind(v1::SETUP_LOCAL_STORE);
  store.set_config_version(4);
  EXPECT_EQ(DescribeStep(store), "setup_local_store (version 4)");
}

}  // namespace
}  // namespace topos::controller
