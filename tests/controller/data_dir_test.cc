#include "controller/setup/data_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <random>

#include "certs/certificate.h"
#include "common/file_io.h"

namespace topos::controller {
namespace {

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topos-datadir-" + std::to_string(std::random_device{}()));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  InitOptions Options() {
    InitOptions options;
    options.data_dir = dir_;
    options.name = "controller.topos.test";
    options.listen = "127.0.0.1:0";
    options.extra_sans = {"ctl.example.test", "10.0.0.5"};
    return options;
  }
  std::filesystem::path dir_;
};

unsigned ModeOf(const std::filesystem::path& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

TEST_F(DataDirTest, InitCreatesCaServerAndOperatorWithPrivateKeys) {
  ASSERT_TRUE(InitDataDir(Options()).ok());
  for (const char* key : {"ca/ca.key", "server/key.pem", "admin/key.pem"}) {
    EXPECT_EQ(ModeOf(dir_ / key), 0600u) << key;
  }
  auto data = LoadDataDir(dir_);
  ASSERT_TRUE(data.ok()) << data.status().message();
  auto server = certs::Certificate::FromPem(data->server_identity.certificate_pem);
  ASSERT_TRUE(server.ok());
  auto names = server->dns_names();
  for (const char* name : {"controller.topos.test", "localhost", "ctl.example.test"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  auto ips = server->ip_addresses();
  EXPECT_NE(std::find(ips.begin(), ips.end(), "127.0.0.1"), ips.end());
  EXPECT_NE(std::find(ips.begin(), ips.end(), "10.0.0.5"), ips.end());
  auto admin = certs::Certificate::FromPem(*ReadFile(dir_ / "admin" / "cert.pem"));
  ASSERT_TRUE(admin.ok());
  EXPECT_TRUE(certs::VerifyChain(*admin, {data->ca.certificate()}, {}, certs::Usage::kClient).ok());
}

TEST_F(DataDirTest, RefusesToOverwriteAnExistingDataDir) {
  ASSERT_TRUE(InitDataDir(Options()).ok());
  std::string ca_before = *ReadFile(dir_ / "ca" / "ca.pem");
  Status again = InitDataDir(Options());
  EXPECT_EQ(again.code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(*ReadFile(dir_ / "ca" / "ca.pem"), ca_before);
}

TEST_F(DataDirTest, RefusesBadNameAndLeavesNothing) {
  InitOptions options = Options();
  options.name = "not a name";
  Status status = InitDataDir(options);
  EXPECT_NE(status.message().find("--name"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_));
}

TEST_F(DataDirTest, LoadNamesTheMissingPiece) {
  ASSERT_TRUE(InitDataDir(Options()).ok());
  std::filesystem::remove(dir_ / "server" / "key.pem");
  auto data = LoadDataDir(dir_);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("key.pem"), std::string::npos);
  EXPECT_FALSE(LoadDataDir(dir_ / "nope").ok());
}

}  // namespace
}  // namespace topos::controller
