// TrustFiles: a TrustUpdate is checked whole, then written; a bad one
// leaves every file as it was.
#include "agent/link/trust_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <random>

#include "certs/certificate_authority.h"
#include "certs/crl.h"
#include "common/file_io.h"
#include "topos/v1/agent.pb.h"

namespace topos::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

unsigned ModeOf(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 0777;
}

class TrustFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("topos-trust-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(root_ / "identity");
    ASSERT_TRUE(WriteFileAtomically(root_ / "identity" / "ca.pem", "enrolled bundle").ok());
    auto ca = certs::CertificateAuthority::Create("Trust Test CA");
    auto next = certs::CertificateAuthority::Create("Trust Test CA 2");
    ASSERT_TRUE(ca.ok() && next.ok());
    ca_.emplace(std::move(*ca));
    next_.emplace(std::move(*next));
    auto now = std::chrono::system_clock::now();
    auto crl = certs::SignCrl(*ca_, {{"0a1b", now}}, now, now + std::chrono::hours(24), 1);
    ASSERT_TRUE(crl.ok());
    crl_pem_ = *crl;
  }
  void TearDown() override { fs::remove_all(root_); }

  static topos::v1::TrustUpdate Update(const std::string& bundle, const std::string& crl) {
    topos::v1::TrustUpdate update;
    update.set_ca_bundle_pem(bundle);
    update.set_crl_pem(crl);
    update.set_generation(TrustGenerationOf(bundle, crl));
    return update;
  }
  std::string Bundle() const { return ca_->certificate().ToPem() + next_->certificate().ToPem(); }
  std::string Read(const fs::path& path) const {
    auto text = ReadFile(path, 8 << 20);
    return text.ok() ? *text : "<missing>";
  }
  // A leaf certificate (not a CA) issued by ca_.
  std::string LeafPem() const {
    auto key = certs::PrivateKey::Generate();
    auto csr = certs::Csr::Create(*key, "web-1.example.test", {"web-1.example.test"});
    certs::SigningPolicy policy;
    policy.common_name = "web-1.example.test";
    policy.allowed_dns_names = {"web-1.example.test"};
    return ca_->Sign(*csr, policy)->ToPem();
  }

  fs::path root_;
  std::optional<certs::CertificateAuthority> ca_;
  std::optional<certs::CertificateAuthority> next_;
  std::string crl_pem_;
};

TEST_F(TrustFilesTest, WritesEveryFileWithTheRightModes) {
  TrustFiles files(root_);
  EXPECT_EQ(files.Generation(), "");
  auto update = Update(Bundle(), crl_pem_);
  Status applied = files.Apply(update);
  ASSERT_TRUE(applied.ok()) << applied.message();

  EXPECT_EQ(Read(root_ / "identity" / "ca.pem"), Bundle());
  EXPECT_EQ(Read(root_ / "store" / "trust" / "ca-bundle.pem"), Bundle());
  EXPECT_EQ(Read(root_ / "store" / "trust" / "crl.pem"), crl_pem_);
  EXPECT_EQ(files.Generation(), update.generation());
  EXPECT_EQ(files.Generation().size(), 64u);
  EXPECT_EQ(ModeOf(root_ / "store" / "trust"), 0700u);
  for (const char* name : {"ca-bundle.pem", "crl.pem", "generation"}) {
    EXPECT_EQ(ModeOf(root_ / "store" / "trust" / name), 0644u) << name;
  }
  EXPECT_EQ(ModeOf(root_ / "identity" / "ca.pem"), 0644u);

  // A later update with one CA and no CRL replaces all of it.
  auto single = Update(next_->certificate().ToPem(), "");
  ASSERT_TRUE(files.Apply(single).ok());
  EXPECT_EQ(Read(root_ / "store" / "trust" / "ca-bundle.pem"), next_->certificate().ToPem());
  EXPECT_EQ(Read(root_ / "store" / "trust" / "crl.pem"), "");
  EXPECT_EQ(files.Generation(), single.generation());
}

TEST_F(TrustFilesTest, RefusesEachBadInputNamingItAndWritesNothing) {
  struct Case {
    const char* what;
    topos::v1::TrustUpdate update;
    const char* expected;
  };
  std::vector<Case> cases;
  cases.push_back({"empty bundle", Update("", crl_pem_), "the CA bundle is empty"});
  std::string huge = Bundle() + std::string(kMaxTrustBundleBytes, '\n');
  cases.push_back({"oversized bundle", Update(huge, ""), "over the 64 KiB limit"});
  cases.push_back({"garbage bundle", Update("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", ""),
                   "the CA bundle does not parse"});
  cases.push_back({"not PEM", Update("hello", ""), "the CA bundle does not parse"});
  cases.push_back({"leaf in bundle", Update(Bundle() + LeafPem(), ""), "which is not a CA"});
  std::string big_crl(kMaxTrustCrlBytes + 1, 'x');
  cases.push_back({"oversized CRL", Update(Bundle(), big_crl), "over the 4 MiB limit"});
  cases.push_back({"garbage CRL", Update(Bundle(), "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"),
                   "the CRL does not parse"});
  cases.push_back({"certificate as CRL", Update(Bundle(), Bundle()), "the CRL does not parse"});
  auto wrong = Update(Bundle(), crl_pem_);
  wrong.set_generation(std::string(64, 'a'));
  cases.push_back({"wrong generation", wrong, "is not the SHA-256 of the bundle and CRL"});
  auto upper = Update(Bundle(), crl_pem_);
  std::string generation = upper.generation();
  for (char& c : generation) c = static_cast<char>(std::toupper(c));
  upper.set_generation(generation);
  cases.push_back({"uppercase generation", upper, "is not the SHA-256"});
  auto empty_generation = Update(Bundle(), crl_pem_);
  empty_generation.set_generation("");
  cases.push_back({"no generation", empty_generation, "is not the SHA-256"});

  TrustFiles files(root_);
  for (const Case& c : cases) {
    Status refused = files.Apply(c.update);
    EXPECT_EQ(refused.code(), Status::Code::kInvalidArgument) << c.what;
    EXPECT_THAT(refused.message(), HasSubstr(c.expected)) << c.what;
    EXPECT_FALSE(fs::exists(root_ / "store" / "trust")) << c.what;
    EXPECT_EQ(Read(root_ / "identity" / "ca.pem"), "enrolled bundle") << c.what;
  }

  // After a good update, a bad one leaves every file as it was.
  auto good = Update(Bundle(), crl_pem_);
  ASSERT_TRUE(files.Apply(good).ok());
  for (const Case& c : cases) {
    EXPECT_FALSE(files.Apply(c.update).ok()) << c.what;
    EXPECT_EQ(files.Generation(), good.generation()) << c.what;
    EXPECT_EQ(Read(root_ / "identity" / "ca.pem"), Bundle()) << c.what;
    EXPECT_EQ(Read(root_ / "store" / "trust" / "ca-bundle.pem"), Bundle()) << c.what;
    EXPECT_EQ(Read(root_ / "store" / "trust" / "crl.pem"), crl_pem_) << c.what;
  }
}

}  // namespace
}  // namespace topos::agent
