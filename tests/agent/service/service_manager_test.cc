#include "agent/service/service_manager.h"

#include <unistd.h>

#include <csignal>
#include <filesystem>

#include <gtest/gtest.h>

namespace topos::agent {
namespace {

TEST(ServiceManager, PhaseNames) {
  EXPECT_STREQ(PhaseName(ServiceState::Phase::kStopped), "stopped");
  EXPECT_STREQ(PhaseName(ServiceState::Phase::kRunning), "running");
  EXPECT_STREQ(PhaseName(ServiceState::Phase::kFailed), "failed");
}

TEST(ServiceManager, ParsesKinds) {
  EXPECT_EQ(*ParseServiceManagerKind("auto"), ServiceManagerKind::kAuto);
  EXPECT_EQ(*ParseServiceManagerKind("systemd"), ServiceManagerKind::kSystemd);
  EXPECT_EQ(*ParseServiceManagerKind("supervisor"), ServiceManagerKind::kSupervisor);
}

TEST(ServiceManager, RejectsUnknownKindListingTheChoices) {
  for (const char* bad : {"", "Systemd", "upstart", "auto "}) {
    Result<ServiceManagerKind> kind = ParseServiceManagerKind(bad);
    ASSERT_FALSE(kind.ok()) << bad;
    EXPECT_EQ(kind.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(kind.status().message().find("auto, systemd, supervisor"), std::string::npos);
  }
}

TEST(ServiceManager, ParsesSignalNamesInAnyCaseWithOrWithoutSig) {
  EXPECT_EQ(*ParseSignalName("TERM"), SIGTERM);
  EXPECT_EQ(*ParseSignalName("SIGTERM"), SIGTERM);
  EXPECT_EQ(*ParseSignalName("sigterm"), SIGTERM);
  EXPECT_EQ(*ParseSignalName("Hup"), SIGHUP);
  EXPECT_EQ(*ParseSignalName("INT"), SIGINT);
  EXPECT_EQ(*ParseSignalName("SIGQUIT"), SIGQUIT);
  EXPECT_EQ(*ParseSignalName("usr1"), SIGUSR1);
  EXPECT_EQ(*ParseSignalName("SIGUSR2"), SIGUSR2);
  EXPECT_EQ(*ParseSignalName("kill"), SIGKILL);
}

TEST(ServiceManager, RejectsUnknownSignalsListingTheAcceptedNames) {
  for (const char* bad : {"", "SIG", "15", "STOP", "SIGSEGV", "TERM ", "SIGSIGTERM"}) {
    Result<int> signal = ParseSignalName(bad);
    ASSERT_FALSE(signal.ok()) << bad;
    EXPECT_EQ(signal.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(signal.status().message().find("TERM, INT, QUIT, HUP, USR1, USR2, KILL"),
              std::string::npos)
        << signal.status().message();
  }
}

TEST(ServiceManager, NamesSignals) {
  EXPECT_EQ(SignalName(SIGTERM), "SIGTERM");
  EXPECT_EQ(SignalName(SIGHUP), "SIGHUP");
  EXPECT_EQ(SignalName(SIGKILL), "SIGKILL");
  EXPECT_EQ(SignalName(34), "34");
}

TEST(ServiceManager, ValidatesServiceNames) {
  for (const std::string& good : {std::string("a"), std::string("topos-pchat"), std::string("0web"),
                                  std::string("x-1-2"), std::string(63, 'a')}) {
    EXPECT_TRUE(ValidateServiceName(good).ok()) << good;
  }
  for (std::string bad : {std::string(), std::string("-a"), std::string("A"),
                          std::string("a_b"), std::string("a.b"), std::string("../etc"),
                          std::string("a b"), std::string(64, 'a'), std::string("a\nb")}) {
    Status status = ValidateServiceName(bad);
    EXPECT_EQ(status.code(), Status::Code::kInvalidArgument) << bad;
  }
}

TEST(ServiceManager, MakesTheSupervisorWhenAskedOrWithoutSystemd) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "svc-make-test";
  Result<std::unique_ptr<ServiceManager>> supervisor =
      MakeServiceManager(ServiceManagerKind::kSupervisor, dir);
  ASSERT_TRUE(supervisor.ok());
  EXPECT_STREQ((*supervisor)->BackendName(), "supervisor");

  const bool systemd = std::filesystem::is_directory("/run/systemd/system") && geteuid() == 0;
  Result<std::unique_ptr<ServiceManager>> automatic =
      MakeServiceManager(ServiceManagerKind::kAuto, dir);
  ASSERT_TRUE(automatic.ok());
  EXPECT_STREQ((*automatic)->BackendName(), systemd ? "systemd" : "supervisor");

  if (!std::filesystem::is_directory("/run/systemd/system")) {
    Result<std::unique_ptr<ServiceManager>> forced =
        MakeServiceManager(ServiceManagerKind::kSystemd, dir);
    ASSERT_FALSE(forced.ok());
    EXPECT_EQ(forced.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(forced.status().message().find("supervisor"), std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(dir));  // nothing is created until a service starts
}

}  // namespace
}  // namespace topos::agent
