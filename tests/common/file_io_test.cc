#include "common/file_io.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <random>

namespace topos {
namespace {

class FileIo : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topos-fileio-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

unsigned ModeOf(const std::filesystem::path& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

TEST_F(FileIo, WritesKeysWithMode0600AndReplacesWhole) {
  auto path = dir_ / "key.pem";
  ASSERT_TRUE(WriteFileAtomically(path, "first", 0600).ok());
  EXPECT_EQ(ModeOf(path), 0600u);
  ASSERT_TRUE(WriteFileAtomically(path, "second", 0600).ok());
  EXPECT_EQ(*ReadFile(path), "second");
  EXPECT_EQ(ModeOf(path), 0600u);
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_),
                          std::filesystem::directory_iterator()),
            1);
}

TEST_F(FileIo, RefusesOversizedAndMissingFiles) {
  auto path = dir_ / "big";
  ASSERT_TRUE(WriteFileAtomically(path, std::string(2000, 'x')).ok());
  auto big = ReadFile(path, 1000);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("limit"), std::string::npos);
  EXPECT_EQ(ReadFile(dir_ / "missing").status().code(), Status::Code::kNotFound);
}

TEST_F(FileIo, WriteIntoMissingDirectoryFailsCleanly) {
  auto status = WriteFileAtomically(dir_ / "no" / "such" / "file", "x");
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("cannot create"), std::string::npos);
}

TEST_F(FileIo, PrivateDirectoryIs0700) {
  ASSERT_TRUE(EnsurePrivateDirectory(dir_ / "state").ok());
  EXPECT_EQ(ModeOf(dir_ / "state"), 0700u);
}

}  // namespace
}  // namespace topos
