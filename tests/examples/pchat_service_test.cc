// Runs the built topos-pchat binary as the agent would: environment in,
// HTTPS out, signals to stop and reload.
#define CPPHTTPLIB_OPENSSL_SUPPORT
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/agent/checks/test_pki.h"
#include "tests/examples/pchat_process.h"
#include "topos/v1/topology.pb.h"
#include "tests/support/temp_dir.h"

namespace topos {
namespace {

using ::testing::HasSubstr;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

using namespace topos::pchat_test;  // NOLINT: the shared test helpers

class PchatService : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = testing::MakeTestPki(dir_.path(), "", {"localhost"}, {"127.0.0.1"});
    ASSERT_FALSE(HasFailure());
    snapshot_ = dir_.path() / "current.json";
  }

  void WriteSnapshot(std::uint64_t version) {
    topos::v1::HostConfig config;
    config.set_version(version);
    config.set_host_fqdn("chat1.example.net");
    auto* setting = config.add_settings();
    setting->set_key("chat.motd");
    setting->set_value("be \"kind\"");
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(config, &json, options).ok());
    testing::WriteTextFile(dir_.path() / "current.json.tmp", json);
    std::filesystem::rename(dir_.path() / "current.json.tmp", snapshot_);
  }

  std::vector<std::pair<std::string, std::string>> Env() const {
    return {{"TOPOS_TLS_CERT", pki_.cert_file.string()},
            {"TOPOS_TLS_KEY", pki_.key_file.string()},
            {"TOPOS_TLS_CA", pki_.ca_file.string()},
            {"TOPOS_PCHAT_PORT", "0"},
            {"TOPOS_STORE_SNAPSHOT", snapshot_.string()}};
  }

  static std::vector<std::pair<std::string, std::string>> Without(
      std::vector<std::pair<std::string, std::string>> env, const std::string& name) {
    std::erase_if(env, [&](const auto& entry) { return entry.first == name; });
    return env;
  }

  // An HTTPS client that verifies the server against the test CA, including
  // the name (the certificate carries IP SAN 127.0.0.1).
  std::unique_ptr<httplib::SSLClient> Client(int port) const {
    auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
    client->set_ca_cert_path(pki_.ca_file.c_str());
    client->enable_server_certificate_verification(true);
    client->set_connection_timeout(2, 0);
    client->set_read_timeout(2, 0);
    return client;
  }

  TempDir dir_;
  testing::TestPkiFiles pki_;
  std::filesystem::path snapshot_;
};

TEST_F(PchatService, ServesHealthzOverVerifiedTlsAndStopsOnSigterm) {
  WriteSnapshot(7);
  PchatProcess pchat(dir_.path(), Env());
  ASSERT_TRUE(pchat.started());
  int port = pchat.WaitForPort();
  ASSERT_GT(port, 0) << pchat.Stderr();
  EXPECT_THAT(pchat.Stdout(), HasSubstr("topos-pchat 6.0.9319 listening on https://127.0.0.1:"));

  auto client = Client(port);
  auto health = client->Get("/healthz");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok version 7\n");

  auto root = client->Get("/");
  ASSERT_TRUE(root);
  EXPECT_THAT(root->body, HasSubstr("chat1.example.net"));

  auto settings = client->Get("/settings");
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->status, 200);
  EXPECT_THAT(settings->body, HasSubstr("\"key\":\"chat.motd\""));
  EXPECT_THAT(settings->body, HasSubstr("\"value\":\"be \\\"kind\\\"\""));

  pchat.Signal(SIGTERM);
  EXPECT_EQ(pchat.WaitExit(), std::optional<int>(0));
}

TEST_F(PchatService, ClientTrustingAnotherCaIsRefused) {
  PchatProcess pchat(dir_.path(), Env());
  int port = pchat.WaitForPort();
  ASSERT_GT(port, 0) << pchat.Stderr();
  testing::TestPkiFiles other = testing::MakeTestPki(dir_.path(), "other-", {"localhost"}, {});
  ASSERT_FALSE(HasFailure());
  httplib::SSLClient client("127.0.0.1", port);
  client.set_ca_cert_path(other.ca_file.c_str());
  client.enable_server_certificate_verification(true);
  EXPECT_FALSE(client.Get("/healthz"));
}

TEST_F(PchatService, WithoutSnapshotSettingsAreNotFound) {
  PchatProcess pchat(dir_.path(), Env());  // current.json never written
  int port = pchat.WaitForPort();
  ASSERT_GT(port, 0) << pchat.Stderr();
  auto client = Client(port);
  auto health = client->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->body, "ok version 0\n");
  auto settings = client->Get("/settings");
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->status, 404);
}

TEST_F(PchatService, SighupRereadsTheSnapshotAndKeepsServing) {
  WriteSnapshot(1);
  PchatProcess pchat(dir_.path(), Env());
  int port = pchat.WaitForPort();
  ASSERT_GT(port, 0) << pchat.Stderr();
  WriteSnapshot(2);
  pchat.Signal(SIGHUP);
  auto client = Client(port);
  std::string body;
  const auto deadline = steady_clock::now() + kDeadline;
  while (steady_clock::now() < deadline && body != "ok version 2\n") {
    auto health = client->Get("/healthz");
    ASSERT_TRUE(health);
    body = health->body;
    if (body != "ok version 2\n") std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(body, "ok version 2\n");
  EXPECT_THAT(pchat.Stdout(), HasSubstr("reload requested"));
  pchat.Signal(SIGTERM);
  EXPECT_EQ(pchat.WaitExit(), std::optional<int>(0));
}

TEST_F(PchatService, MalformedSnapshotRefusesToStart) {
  testing::WriteTextFile(snapshot_, "{ not json");
  PchatProcess pchat(dir_.path(), Env());
  EXPECT_EQ(pchat.WaitExit(), std::optional<int>(2));
  EXPECT_THAT(pchat.Stderr(), HasSubstr(snapshot_.string()));
}

TEST_F(PchatService, MissingCertificateVariableExitsTwoNamingIt) {
  PchatProcess pchat(dir_.path(), Without(Env(), "TOPOS_TLS_CERT"));
  EXPECT_EQ(pchat.WaitExit(), std::optional<int>(2));
  EXPECT_THAT(pchat.Stderr(), HasSubstr("TOPOS_TLS_CERT is not set"));
}

TEST_F(PchatService, UnreadableFilesExitTwoNamingTheVariable) {
  for (const std::string name : {"TOPOS_TLS_KEY", "TOPOS_TLS_CA"}) {
    auto env = Without(Env(), name);
    env.emplace_back(name, (dir_.path() / "absent.pem").string());
    PchatProcess pchat(dir_.path(), env);
    EXPECT_EQ(pchat.WaitExit(), std::optional<int>(2)) << name;
    EXPECT_THAT(pchat.Stderr(), HasSubstr(name + "=")) << name;
    EXPECT_THAT(pchat.Stderr(), HasSubstr("not readable")) << name;
  }
}

TEST_F(PchatService, KeyNotMatchingCertificateExitsTwo) {
  testing::TestPkiFiles other = testing::MakeTestPki(dir_.path(), "other-", {"localhost"}, {});
  ASSERT_FALSE(HasFailure());
  auto env = Without(Env(), "TOPOS_TLS_KEY");
  env.emplace_back("TOPOS_TLS_KEY", other.key_file.string());
  PchatProcess pchat(dir_.path(), env);
  EXPECT_EQ(pchat.WaitExit(), std::optional<int>(2));
  EXPECT_THAT(pchat.Stderr(), HasSubstr("cannot use TLS certificate"));
}

TEST_F(PchatService, BadPortExitsTwo) {
  auto env = Without(Env(), "TOPOS_PCHAT_PORT");
  env.emplace_back("TOPOS_PCHAT_PORT", "70000");
  PchatProcess pchat(dir_.path(), env);
  EXPECT_EQ(pchat.WaitExit(), std::optional<int>(2));
  EXPECT_THAT(pchat.Stderr(), HasSubstr("TOPOS_PCHAT_PORT=70000"));
}

TEST_F(PchatService, PortInUseExitsOne) {
  PchatProcess first(dir_.path() / "", Env());
  int port = first.WaitForPort();
  ASSERT_GT(port, 0) << first.Stderr();
  TempDir second_dir;
  auto env = Without(Env(), "TOPOS_PCHAT_PORT");
  env.emplace_back("TOPOS_PCHAT_PORT", std::to_string(port));
  PchatProcess second(second_dir.path(), env);
  EXPECT_EQ(second.WaitExit(), std::optional<int>(1));
  EXPECT_THAT(second.Stderr(), HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(port)));
}

TEST(PchatArtifact, TarballHoldsTheBinary) {
  FILE* pipe = popen(("tar -tzf '" + std::string(TOPOS_PCHAT_ARTIFACT) + "'").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string listing;
  char buffer[256];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) listing += buffer;
  EXPECT_EQ(pclose(pipe), 0);
  EXPECT_EQ(listing, "bin/topos-pchat\n");
}

}  // namespace
}  // namespace topos
