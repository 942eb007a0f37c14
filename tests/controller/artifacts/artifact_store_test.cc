// ArtifactStore: uploads are checked (size, digest) before anything is
// stored, stored content-addressed once, and resolved by version or digest.
#include "controller/artifacts/artifact_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <random>
#include <string>

#include "certs/crypto.h"
#include "controller/store/sqlite_store.h"

namespace topos {
namespace {

namespace fs = std::filesystem;
namespace tc = topos::controller;
using ::testing::HasSubstr;

tc::ArtifactRecord Header(const std::string& content, bool with_digest = true,
                          const std::string& service = "topos-pchat",
                          const std::string& version = "6.0.9319") {
  tc::ArtifactRecord header;
  header.service = service;
  header.version = version;
  header.size = content.size();
  if (with_digest) header.sha256 = certs::Sha256Hex(content);
  header.file_name = "pchat.tar.gz";
  header.pushed_by = "alice";
  return header;
}

unsigned ModeOf(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

std::size_t CountFiles(const fs::path& dir) {
  std::error_code error;
  if (!fs::exists(dir, error)) return 0;
  std::size_t n = 0;
  for (auto it = fs::directory_iterator(dir); it != fs::directory_iterator(); ++it) ++n;
  return n;
}

class ArtifactStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("topos-artifact-store-" + std::to_string(std::random_device{}()));
    fs::create_directories(root_);
    auto store = tc::SqliteStore::Open(root_ / "topos.db");
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
    artifacts_ = std::make_unique<tc::ArtifactStore>(dir(), *store_);
  }
  void TearDown() override {
    artifacts_.reset();
    store_.reset();
    fs::remove_all(root_);
  }

  fs::path dir() const { return root_ / "artifacts"; }

  // Uploads `content` in pieces of `piece` bytes and commits.
  Result<tc::ArtifactRecord> Push(const std::string& content, const tc::ArtifactRecord& header,
                                  bool* already_present, std::size_t piece = 1000) {
    auto upload = artifacts_->BeginUpload(header);
    if (!upload.ok()) return upload.status();
    for (std::size_t at = 0; at < content.size(); at += piece) {
      TOPOS_RETURN_IF_ERROR((*upload)->Append(std::string_view(content).substr(at, piece)));
    }
    return (*upload)->Commit(already_present);
  }

  fs::path root_;
  std::unique_ptr<tc::SqliteStore> store_;
  std::unique_ptr<tc::ArtifactStore> artifacts_;
};

const std::string kContent(5000, 'x');
const std::string kOther(5000, 'y');

TEST_F(ArtifactStoreTest, UploadIsStoredContentAddressedAndRecorded) {
  bool already = true;
  auto record = Push(kContent, Header(kContent), &already);
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_FALSE(already);
  const std::string digest = certs::Sha256Hex(kContent);
  EXPECT_EQ(record->sha256, digest);
  EXPECT_EQ(record->size, kContent.size());
  EXPECT_EQ(record->pushed_by, "alice");
  const fs::path file = dir() / "sha256" / digest;
  ASSERT_TRUE(fs::is_regular_file(file));
  EXPECT_EQ(fs::file_size(file), kContent.size());
  EXPECT_EQ(ModeOf(file), 0644u);
  EXPECT_EQ(ModeOf(dir()), 0750u);
  EXPECT_EQ(CountFiles(dir() / "tmp"), 0u);
  auto stored = store_->GetArtifact("topos-pchat", "6.0.9319");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->sha256, digest);
  auto path = artifacts_->PathOf(digest);
  ASSERT_TRUE(path.ok()) << path.status().message();
  EXPECT_EQ(*path, file);
}

TEST_F(ArtifactStoreTest, HeaderWithoutDigestIsComputed) {
  bool already = false;
  auto record = Push(kContent, Header(kContent, false), &already);
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_EQ(record->sha256, certs::Sha256Hex(kContent));
}

TEST_F(ArtifactStoreTest, SamePushTwiceIsAlreadyPresent) {
  bool already = false;
  ASSERT_TRUE(Push(kContent, Header(kContent), &already).ok());
  auto header = Header(kContent);
  header.pushed_by = "bob";
  auto again = Push(kContent, header, &already);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(already);
  EXPECT_EQ(again->pushed_by, "alice") << "reports the original push";
  EXPECT_EQ(CountFiles(dir() / "sha256"), 1u);
  EXPECT_EQ(CountFiles(dir() / "tmp"), 0u);
}

TEST_F(ArtifactStoreTest, WrongDeclaredDigestIsRefusedAndNothingStored) {
  auto header = Header(kContent);
  header.sha256 = certs::Sha256Hex(kOther);
  bool already = false;
  auto refused = Push(kContent, header, &already);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr(certs::Sha256Hex(kContent)));
  EXPECT_THAT(refused.status().message(), HasSubstr(certs::Sha256Hex(kOther)));
  EXPECT_EQ(CountFiles(dir() / "sha256"), 0u);
  EXPECT_EQ(CountFiles(dir() / "tmp"), 0u);
  EXPECT_TRUE(store_->ListArtifacts("")->empty());
}

TEST_F(ArtifactStoreTest, MoreBytesThanDeclaredAreRefused) {
  auto upload = artifacts_->BeginUpload(Header(kContent));
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append(kContent).ok());
  Status extra = (*upload)->Append("z");
  EXPECT_EQ(extra.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(extra.message(), HasSubstr("declared size"));
}

TEST_F(ArtifactStoreTest, FewerBytesThanDeclaredAreRefusedAtCommit) {
  auto upload = artifacts_->BeginUpload(Header(kContent));
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append(kContent.substr(0, 10)).ok());
  bool already = false;
  auto refused = (*upload)->Commit(&already);
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("received 10 bytes"));
  upload->reset();
  EXPECT_EQ(CountFiles(dir() / "tmp"), 0u);
  EXPECT_EQ(CountFiles(dir() / "sha256"), 0u);
}

TEST_F(ArtifactStoreTest, AbandonedUploadLeavesNothingBehind) {
  {
    auto upload = artifacts_->BeginUpload(Header(kContent));
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE((*upload)->Append(kContent.substr(0, 100)).ok());
    EXPECT_EQ(CountFiles(dir() / "tmp"), 1u);
  }
  EXPECT_EQ(CountFiles(dir() / "tmp"), 0u);
  EXPECT_TRUE(store_->ListArtifacts("")->empty());
}

TEST_F(ArtifactStoreTest, DifferentContentForSameVersionIsRefusedEarlyWhenDigestIsDeclared) {
  bool already = false;
  ASSERT_TRUE(Push(kContent, Header(kContent), &already).ok());
  auto refused = artifacts_->BeginUpload(Header(kOther));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kAlreadyExists);
  EXPECT_THAT(refused.status().message(), HasSubstr(certs::Sha256Hex(kContent)));
}

TEST_F(ArtifactStoreTest, DifferentContentForSameVersionIsRefusedAtCommitOtherwise) {
  bool already = false;
  ASSERT_TRUE(Push(kContent, Header(kContent), &already).ok());
  auto refused = Push(kOther, Header(kOther, false), &already);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kAlreadyExists);
  EXPECT_THAT(refused.status().message(), HasSubstr(certs::Sha256Hex(kContent)));
  EXPECT_FALSE(fs::exists(dir() / "sha256" / certs::Sha256Hex(kOther)));
  EXPECT_EQ(CountFiles(dir() / "tmp"), 0u);
  EXPECT_EQ(store_->GetArtifact("topos-pchat", "6.0.9319")->sha256, certs::Sha256Hex(kContent));
}

TEST_F(ArtifactStoreTest, SameBytesUnderAnotherVersionShareOneFile) {
  bool already = false;
  ASSERT_TRUE(Push(kContent, Header(kContent), &already).ok());
  auto second = Push(kContent, Header(kContent, true, "topos-pchat", "6.0.9320"), &already);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_FALSE(already);
  EXPECT_EQ(CountFiles(dir() / "sha256"), 1u);
  EXPECT_EQ(store_->ListArtifacts("topos-pchat")->size(), 2u);
}

TEST_F(ArtifactStoreTest, BadHeadersAreRefusedWithTheReason) {
  struct Case {
    std::string what;
    tc::ArtifactRecord header;
    std::string expect;
  };
  std::vector<Case> cases;
  auto base = Header(kContent);
  auto with = [&](auto change) {
    auto h = base;
    change(h);
    return h;
  };
  cases.push_back({"empty service", with([](auto& h) { h.service = ""; }), "service name"});
  cases.push_back({"uppercase service", with([](auto& h) { h.service = "Chat"; }), "service name"});
  cases.push_back({"leading dash", with([](auto& h) { h.service = "-chat"; }), "service name"});
  cases.push_back({"long service", with([](auto& h) { h.service = std::string(64, 'a'); }),
                   "service name"});
  cases.push_back({"empty version", with([](auto& h) { h.version = ""; }), "version"});
  cases.push_back({"slash in version", with([](auto& h) { h.version = "../1"; }), "version"});
  cases.push_back({"long version", with([](auto& h) { h.version = std::string(65, '1'); }),
                   "version"});
  cases.push_back({"size 0", with([](auto& h) { h.size = 0; }), "size"});
  cases.push_back({"too large", with([](auto& h) { h.size = tc::kMaxArtifactBytes + 1; }), "size"});
  cases.push_back({"short digest", with([](auto& h) { h.sha256 = "abc"; }), "sha256"});
  cases.push_back({"uppercase digest",
                   with([](auto& h) { h.sha256 = std::string(64, 'A'); }), "sha256"});
  for (const auto& c : cases) {
    auto refused = artifacts_->BeginUpload(c.header);
    ASSERT_FALSE(refused.ok()) << c.what;
    EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument) << c.what;
    EXPECT_THAT(refused.status().message(), HasSubstr(c.expect)) << c.what;
  }
  EXPECT_TRUE(artifacts_->BeginUpload(with([](auto& h) { h.service = "a"; })).ok());
  EXPECT_TRUE(artifacts_->BeginUpload(with([](auto& h) { h.version = "1.2_3+b-4"; })).ok());
}

TEST_F(ArtifactStoreTest, ResolvesByVersionOrPinnedDigest) {
  bool already = false;
  ASSERT_TRUE(Push(kContent, Header(kContent), &already).ok());
  const std::string digest = certs::Sha256Hex(kContent);
  auto by_version = artifacts_->Resolve("topos-pchat", "6.0.9319", "");
  ASSERT_TRUE(by_version.ok()) << by_version.status().message();
  EXPECT_EQ(by_version->sha256, digest);
  auto by_digest = artifacts_->Resolve("topos-pchat", "whatever", "sha256:" + digest);
  ASSERT_TRUE(by_digest.ok()) << by_digest.status().message();
  EXPECT_EQ(by_digest->sha256, digest);
}

TEST_F(ArtifactStoreTest, ResolveNotFoundSaysWhatToPush) {
  auto missing = artifacts_->Resolve("topos-pchat", "6.0.9319", "");
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "no artifact for service \"topos-pchat\" version \"6.0.9319\": push one with "
            "toposctl artifact push FILE --service topos-pchat --version 6.0.9319");
  auto unknown_digest =
      artifacts_->Resolve("topos-pchat", "6.0.9319", "sha256:" + certs::Sha256Hex(kOther));
  EXPECT_EQ(unknown_digest.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(unknown_digest.status().message(), HasSubstr(certs::Sha256Hex(kOther)));
  EXPECT_THAT(unknown_digest.status().message(), HasSubstr("toposctl artifact push"));
  auto bad = artifacts_->Resolve("topos-pchat", "6.0.9319", "sha256:nothex");
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
}

TEST_F(ArtifactStoreTest, PathOfUnknownOrMissingFileIsNotFound) {
  EXPECT_EQ(artifacts_->PathOf(certs::Sha256Hex(kOther)).status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(artifacts_->PathOf("../../etc/passwd").status().code(),
            Status::Code::kInvalidArgument);
  bool already = false;
  ASSERT_TRUE(Push(kContent, Header(kContent), &already).ok());
  const std::string digest = certs::Sha256Hex(kContent);
  fs::remove(dir() / "sha256" / digest);
  auto missing = artifacts_->PathOf(digest);
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("push it again"));
  // Pushing the same bytes again restores the file.
  ASSERT_TRUE(Push(kContent, Header(kContent), &already).ok());
  EXPECT_TRUE(already);
  EXPECT_TRUE(artifacts_->PathOf(digest).ok());
}

TEST(Sha256Hasher, MatchesOneShotDigestAcrossPieces) {
  const std::string data = "The quick brown fox jumps over the lazy dog";
  certs::Sha256Hasher hasher;
  for (char c : data) hasher.Update(std::string_view(&c, 1));
  EXPECT_EQ(hasher.FinishHex(),
            "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592");
  // Starts over after FinishHex.
  EXPECT_EQ(hasher.FinishHex(), certs::Sha256Hex(""));
}

}  // namespace
}  // namespace topos
