// CaKeyring: each rotation step on disk, repeating a step, a crash between
// any two file operations (simulated by doing part of a step by hand, then
// Load), broken files named in errors, and key modes.
#include "controller/ca/ca_keyring.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "common/file_io.h"
#include "tests/support/temp_dir.h"

namespace topos {
namespace {

namespace fs = std::filesystem;
namespace tc = topos::controller;
using ::testing::HasSubstr;

class CaKeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_dir_ = temp_.path() / "ca";
    fs::create_directories(ca_dir_);
    auto ca = certs::CertificateAuthority::Create("Topos CA old");
    ASSERT_TRUE(ca.ok());
    old_fp_ = ca->certificate().Sha256Fingerprint();
    ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "ca.key", ca->key().ToPem(), 0600).ok());
    ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "ca.pem", ca->certificate().ToPem()).ok());
  }

  std::unique_ptr<tc::CaKeyring> Load() {
    auto keyring = tc::CaKeyring::Load(ca_dir_);
    EXPECT_TRUE(keyring.ok()) << keyring.status().message();
    return keyring.ok() ? std::move(keyring).value() : nullptr;
  }
  std::string Read(const char* name) { return ReadFile(ca_dir_ / name).value(); }
  bool Has(const char* name) { return fs::exists(ca_dir_ / name); }
  unsigned Mode(const char* name) {
    struct stat st {};
    EXPECT_EQ(::stat((ca_dir_ / name).c_str(), &st), 0) << name;
    return st.st_mode & 0777;
  }
  // Fingerprints of the bundle file, in order.
  std::vector<std::string> BundleFile() {
    std::vector<std::string> fps;
    auto bundle = certs::Certificate::BundleFromPem(Read("bundle.pem"));
    EXPECT_TRUE(bundle.ok());
    if (bundle.ok()) {
      for (const auto& c : *bundle) fps.push_back(c.Sha256Fingerprint());
    }
    return fps;
  }
  std::string SigningFp(const tc::CaKeyring& k) {
    return k.signing()->certificate().Sha256Fingerprint();
  }

  test_support::TempDir temp_{"topos-keyring"};
  fs::path ca_dir_;
  std::string old_fp_;
};

TEST_F(CaKeyringTest, OldDataDirLoadsAndGetsABundleOfItsOneCa) {
  auto k = Load();
  ASSERT_TRUE(k);
  EXPECT_EQ(SigningFp(*k), old_fp_);
  EXPECT_EQ(BundleFile(), std::vector<std::string>{old_fp_});
  EXPECT_EQ(k->BundlePem(), Read("ca.pem"));
  EXPECT_FALSE(k->next());
  EXPECT_FALSE(k->previous());
  EXPECT_EQ(k->TrustedFingerprints().size(), 1u);
  EXPECT_EQ(k->TrustedFingerprints()[0].size(), 64u + 31u);  // colons
}

TEST_F(CaKeyringTest, ThreeStepsMoveTheCasAndTheBundle) {
  auto k = Load();
  ASSERT_TRUE(k);
  ASSERT_TRUE(k->PrepareNext("Topos CA new").ok());
  ASSERT_TRUE(k->next());
  const std::string new_fp = k->next()->Sha256Fingerprint();
  EXPECT_EQ(k->next()->common_name(), "Topos CA new");
  EXPECT_EQ(SigningFp(*k), old_fp_);  // not signing yet
  EXPECT_EQ(BundleFile(), (std::vector<std::string>{old_fp_, new_fp}));
  EXPECT_EQ(Mode("next.key"), 0600u);

  ASSERT_TRUE(k->PromoteNext().ok());
  EXPECT_EQ(SigningFp(*k), new_fp);
  ASSERT_TRUE(k->previous());
  EXPECT_EQ(k->previous()->Sha256Fingerprint(), old_fp_);
  ASSERT_TRUE(k->previous_ca());
  EXPECT_FALSE(k->next());
  EXPECT_FALSE(Has("next.pem"));
  EXPECT_FALSE(Has("next.key"));
  EXPECT_EQ(BundleFile(), (std::vector<std::string>{new_fp, old_fp_}));
  EXPECT_EQ(Mode("ca.key"), 0600u);
  EXPECT_EQ(Mode("previous.key"), 0600u);
  // What a restart sees.
  auto reloaded = Load();
  EXPECT_EQ(SigningFp(*reloaded), new_fp);
  EXPECT_EQ(reloaded->previous()->Sha256Fingerprint(), old_fp_);

  ASSERT_TRUE(k->RetirePrevious().ok());
  EXPECT_FALSE(k->previous());
  EXPECT_FALSE(Has("previous.pem"));
  EXPECT_FALSE(Has("previous.key"));
  EXPECT_EQ(BundleFile(), std::vector<std::string>{new_fp});
  EXPECT_EQ(SigningFp(*Load()), new_fp);
}

TEST_F(CaKeyringTest, EveryStepIsIdempotent) {
  auto k = Load();
  ASSERT_TRUE(k->PrepareNext("Topos CA new").ok());
  const std::string new_fp = k->next()->Sha256Fingerprint();
  ASSERT_TRUE(k->PrepareNext("Topos CA other").ok());
  EXPECT_EQ(k->next()->Sha256Fingerprint(), new_fp) << "a second prepare must keep the new CA";
  ASSERT_TRUE(k->PromoteNext().ok());
  ASSERT_TRUE(k->PromoteNext().ok());
  EXPECT_EQ(SigningFp(*k), new_fp);
  EXPECT_EQ(k->previous()->Sha256Fingerprint(), old_fp_);
  ASSERT_TRUE(k->RetirePrevious().ok());
  ASSERT_TRUE(k->RetirePrevious().ok());
  EXPECT_EQ(BundleFile(), std::vector<std::string>{new_fp});
}

TEST_F(CaKeyringTest, StepsOutOfOrderAreRefused) {
  auto k = Load();
  Status promote = k->PromoteNext();
  EXPECT_EQ(promote.code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(promote.message(), HasSubstr("next.pem"));
  ASSERT_TRUE(k->PrepareNext("Topos CA new").ok());
  ASSERT_TRUE(k->PromoteNext().ok());
  Status again = k->PrepareNext("Topos CA third");
  EXPECT_EQ(again.code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(again.message(), HasSubstr("Topos CA old"));
}

TEST_F(CaKeyringTest, CrashInPrepareBeforeTheCertificateDropsTheOrphanKey) {
  auto other = certs::CertificateAuthority::Create("Topos CA half");
  ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "next.key", other->key().ToPem(), 0600).ok());
  auto k = Load();
  EXPECT_FALSE(k->next());
  EXPECT_FALSE(Has("next.key"));
  EXPECT_EQ(BundleFile(), std::vector<std::string>{old_fp_});
}

TEST_F(CaKeyringTest, CrashInPrepareBeforeTheBundleRewritesIt) {
  auto other = certs::CertificateAuthority::Create("Topos CA new");
  ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "next.key", other->key().ToPem(), 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "next.pem", other->certificate().ToPem()).ok());
  auto k = Load();
  ASSERT_TRUE(k->next());
  EXPECT_EQ(BundleFile(),
            (std::vector<std::string>{old_fp_, other->certificate().Sha256Fingerprint()}));
}

// PromoteNext writes previous.key, previous.pem, ca.key, ca.pem, then
// removes next.pem, next.key. Stop after each of the first five.
class PromoteCrash : public CaKeyringTest, public ::testing::WithParamInterface<int> {};

TEST_P(PromoteCrash, LoadFinishesOrUndoesTheStep) {
  std::string new_fp;
  std::string next_pem, next_key, old_pem, old_key;
  {
    auto k = Load();
    ASSERT_TRUE(k->PrepareNext("Topos CA new").ok());
    new_fp = k->next()->Sha256Fingerprint();
    next_pem = Read("next.pem");
    next_key = Read("next.key");
    old_pem = Read("ca.pem");
    old_key = Read("ca.key");
  }
  const int done = GetParam();
  if (done >= 1) {
    ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "previous.key", old_key, 0600).ok());
  }
  if (done >= 2) {
    ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "previous.pem", old_pem).ok());
  }
  if (done >= 3) {
    ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "ca.key", next_key, 0600).ok());
  }
  if (done >= 4) {
    ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "ca.pem", next_pem).ok());
  }
  if (done >= 5) fs::remove(ca_dir_ / "next.pem");

  auto k = Load();
  ASSERT_TRUE(k);
  if (done == 1) {
    // Not promoted: back to "prepared", and a repeat of the step works.
    EXPECT_FALSE(Has("previous.key"));
    EXPECT_EQ(SigningFp(*k), old_fp_);
    ASSERT_TRUE(k->next());
    EXPECT_EQ(BundleFile(), (std::vector<std::string>{old_fp_, new_fp}));
    ASSERT_TRUE(k->PromoteNext().ok());
  }
  EXPECT_EQ(SigningFp(*k), new_fp);
  ASSERT_TRUE(k->previous());
  EXPECT_EQ(k->previous()->Sha256Fingerprint(), old_fp_);
  EXPECT_FALSE(k->next());
  EXPECT_FALSE(Has("next.pem"));
  EXPECT_FALSE(Has("next.key"));
  EXPECT_EQ(Read("ca.key"), next_key);
  EXPECT_EQ(Mode("ca.key"), 0600u);
  EXPECT_EQ(BundleFile(), (std::vector<std::string>{new_fp, old_fp_}));
}

INSTANTIATE_TEST_SUITE_P(AfterEachWrite, PromoteCrash, ::testing::Range(1, 6));

TEST_F(CaKeyringTest, CrashInRetireAfterTheCertificateWentFinishesIt) {
  std::string new_fp;
  {
    auto k = Load();
    ASSERT_TRUE(k->PrepareNext("Topos CA new").ok());
    ASSERT_TRUE(k->PromoteNext().ok());
    new_fp = SigningFp(*k);
  }
  fs::remove(ca_dir_ / "previous.pem");
  auto k = Load();
  EXPECT_FALSE(k->previous());
  EXPECT_FALSE(Has("previous.key"));
  EXPECT_EQ(BundleFile(), std::vector<std::string>{new_fp});
}

TEST_F(CaKeyringTest, MissingOrBrokenFilesAreNamed) {
  fs::remove(ca_dir_ / "ca.key");
  auto missing = tc::CaKeyring::Load(ca_dir_);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("ca.key"));

  auto other = certs::CertificateAuthority::Create("Topos CA other");
  ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "ca.key", other->key().ToPem(), 0600).ok());
  auto mismatched = tc::CaKeyring::Load(ca_dir_);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_THAT(mismatched.status().message(), HasSubstr("ca.pem"));

  ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "ca.key", other->key().ToPem(), 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "ca.pem", other->certificate().ToPem()).ok());
  ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "next.key", other->key().ToPem(), 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(ca_dir_ / "next.pem", "garbage").ok());
  auto garbage = tc::CaKeyring::Load(ca_dir_);
  ASSERT_FALSE(garbage.ok());
  EXPECT_THAT(garbage.status().message(), HasSubstr("next.pem"));
}

}  // namespace
}  // namespace topos
