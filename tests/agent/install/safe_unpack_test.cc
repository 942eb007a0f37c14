#include "agent/install/safe_unpack.h"
#include "tests/support/temp_dir.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace topos::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using topos::test_support::TempDir;

// One archive entry as a test describes it.
struct Entry {
  std::string name;
  mode_t type = AE_IFREG;
  int perm = 0644;
  std::string data;      // regular files
  std::string link;      // symlink target, or hardlink target when `hard`
  bool hard = false;
};

Entry File(std::string name, std::string data, int perm = 0644) {
  return {std::move(name), AE_IFREG, perm, std::move(data), "", false};
}
Entry Dir(std::string name) { return {std::move(name), AE_IFDIR, 0755, "", "", false}; }
Entry Symlink(std::string name, std::string target) {
  return {std::move(name), AE_IFLNK, 0777, "", std::move(target), false};
}
Entry Hardlink(std::string name, std::string target) {
  return {std::move(name), AE_IFREG, 0644, "", std::move(target), true};
}
Entry Special(std::string name, mode_t type) { return {std::move(name), type, 0644, "", "", false}; }

// Writes a gzip-compressed pax tar with libarchive's writer.
void WriteTarGz(const fs::path& out, const std::vector<Entry>& entries) {
  archive* a = archive_write_new();
  ASSERT_EQ(archive_write_add_filter_gzip(a), ARCHIVE_OK);
  ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK) << archive_error_string(a);
  for (const Entry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    archive_entry_set_filetype(entry, e.type);
    archive_entry_set_perm(entry, e.perm);
    archive_entry_set_mtime(entry, 1700000000, 0);
    if (e.hard) {
      archive_entry_set_hardlink(entry, e.link.c_str());
      archive_entry_set_size(entry, 0);
    } else if (e.type == AE_IFLNK) {
      archive_entry_set_symlink(entry, e.link.c_str());
    } else if (e.type == AE_IFREG) {
      archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()));
    } else if (e.type == AE_IFCHR || e.type == AE_IFBLK) {
      archive_entry_set_rdev(entry, makedev(1, 3));
    }
    ASSERT_GE(archive_write_header(a, entry), ARCHIVE_WARN) << archive_error_string(a);
    if (!e.data.empty()) {
      ASSERT_EQ(archive_write_data(a, e.data.data(), e.data.size()),
                static_cast<la_ssize_t>(e.data.size()));
    }
    archive_entry_free(entry);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> Listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    names.insert(fs::relative(e.path(), dir).string());
  }
  return names;
}

class SafeUnpack : public ::testing::Test {
 protected:
  fs::path ArchivePath() const { return root_.path() / "release.tar.gz"; }
  fs::path Dest() const { return root_.path() / "install"; }

  // Builds an archive whose first entry is harmless, then `evil`, and checks
  // that unpacking is refused naming `name` and `problem`, with nothing
  // written: no destination, nothing beside the archive.
  void ExpectRefused(const std::vector<Entry>& evil, const std::string& name,
                     const std::string& problem) {
    std::vector<Entry> entries = {File("harmless.txt", "fine\n")};
    entries.insert(entries.end(), evil.begin(), evil.end());
    WriteTarGz(ArchivePath(), entries);
    ExpectRefusedArchive(name, problem);
  }

  void ExpectRefusedArchive(const std::string& name, const std::string& problem) {
    auto r = UnpackArchive(ArchivePath(), Dest());
    ASSERT_FALSE(r.ok()) << "unpacked an archive that should have been refused";
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << r.status().message();
    EXPECT_THAT(r.status().message(), HasSubstr(name));
    EXPECT_THAT(r.status().message(), HasSubstr(problem));
    EXPECT_FALSE(fs::exists(Dest()));
    EXPECT_EQ(Listing(root_.path()), std::set<std::string>{"release.tar.gz"});
  }

  TempDir root_;
};

TEST_F(SafeUnpack, UnpacksNestedDirsExecutablesAndInternalLinks) {
  WriteTarGz(ArchivePath(), {
                                Dir("app/"),
                                Dir("app/bin/"),
                                File("app/bin/run.sh", "#!/bin/sh\necho hi\n", 0755),
                                File("app/etc/conf", "key=value\n", 0640),
                                Symlink("app/current", "bin/run.sh"),
                                Symlink("app/bin/conf", "../etc/conf"),
                                Hardlink("app/etc/conf.copy", "app/etc/conf"),
                            });
  auto r = UnpackArchive(ArchivePath(), Dest());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->entries, 7u);
  EXPECT_EQ(r->bytes, 28u);

  EXPECT_EQ(fs::status(Dest()).permissions(), fs::perms(0755));
  EXPECT_EQ(ReadFile(Dest() / "app/bin/run.sh"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(fs::status(Dest() / "app/bin/run.sh").permissions(), fs::perms(0755));
  EXPECT_EQ(fs::status(Dest() / "app/etc/conf").permissions(), fs::perms(0640));
  EXPECT_EQ(fs::read_symlink(Dest() / "app/current"), "bin/run.sh");
  EXPECT_EQ(ReadFile(Dest() / "app/current"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(ReadFile(Dest() / "app/bin/conf"), "key=value\n");
  EXPECT_EQ(fs::hard_link_count(Dest() / "app/etc/conf"), 2u);
  EXPECT_TRUE(fs::equivalent(Dest() / "app/etc/conf", Dest() / "app/etc/conf.copy"));
}

TEST_F(SafeUnpack, DropsSetuidBits) {
  WriteTarGz(ArchivePath(), {File("tool", "x", 04755)});
  auto r = UnpackArchive(ArchivePath(), Dest());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(fs::status(Dest() / "tool").permissions(), fs::perms(0755));
}

TEST_F(SafeUnpack, RefusesParentTraversal) {
  ExpectRefused({File("../evil", "x")}, "\"../evil\"", "leaves the install directory");
}

TEST_F(SafeUnpack, RefusesAbsolutePath) {
  std::string abs = (root_.path() / "abs-evil").string();
  ExpectRefused({File(abs, "x")}, "\"" + abs + "\"", "absolute path");
}

TEST_F(SafeUnpack, RefusesTraversalInTheMiddle) {
  ExpectRefused({File("a/../../x", "x")}, "\"a/../../x\"", "leaves the install directory");
}

TEST_F(SafeUnpack, RefusesAbsoluteSymlink) {
  ExpectRefused({Symlink("passwd", "/etc/passwd")}, "\"passwd\"", "is absolute");
}

TEST_F(SafeUnpack, RefusesSymlinkLeavingDestination) {
  ExpectRefused({Symlink("link", "../../outside")}, "\"link\"", "leaves the install directory");
  ExpectRefused({Dir("sub/"), Symlink("sub/link", "../../x")}, "\"sub/link\"",
                "leaves the install directory");
}

TEST_F(SafeUnpack, RefusesDotDotAfterNameInSymlink) {
  // "self" -> "." makes "self/../x" point outside although it looks inside.
  ExpectRefused({Symlink("self", "."), Symlink("escape", "self/../x")}, "\"escape\"",
                "after a name");
}

TEST_F(SafeUnpack, RefusesHardlinksOutside) {
  ExpectRefused({Hardlink("hl", "../x")}, "\"hl\"", "hardlink target");
  ExpectRefused({Hardlink("hl", "/etc/passwd")}, "\"hl\"", "is absolute");
}

TEST_F(SafeUnpack, RefusesDevicesAndFifos) {
  ExpectRefused({Special("dev/null", AE_IFCHR)}, "\"dev/null\"", "character device");
  ExpectRefused({Special("dev/sda", AE_IFBLK)}, "\"dev/sda\"", "block device");
  ExpectRefused({Special("pipe", AE_IFIFO)}, "\"pipe\"", "FIFO");
}

TEST_F(SafeUnpack, RefusesCorruptAndTruncatedGzip) {
  std::string big;
  for (int i = 0; i < 20000; ++i) big += std::to_string(i * 7919 % 10007) + ",";
  WriteTarGz(ArchivePath(), {File("data.csv", big), File("after.txt", "x")});
  const std::string good = ReadFile(ArchivePath());
  ASSERT_GT(good.size(), 1000u);

  std::ofstream(ArchivePath(), std::ios::binary | std::ios::trunc) << good.substr(0, good.size() / 2);
  ExpectRefusedArchive("release.tar.gz", "cannot read archive");

  // Damage the start of the deflate stream (after the 10-byte gzip header).
  // libarchive does not check the gzip CRC, so damage inside file data can
  // go unnoticed: artifacts are verified by checksum before unpacking.
  std::string corrupt = good;
  for (std::size_t i = 10; i < 74; ++i) corrupt[i] ^= 0x5a;
  std::ofstream(ArchivePath(), std::ios::binary | std::ios::trunc) << corrupt;
  ExpectRefusedArchive("release.tar.gz", "cannot read archive");
}

TEST_F(SafeUnpack, RefusesEmptyAndNonArchiveFiles) {
  std::ofstream(ArchivePath(), std::ios::trunc).flush();
  ExpectRefusedArchive("release.tar.gz", "is empty");

  std::ofstream(ArchivePath(), std::ios::trunc) << "this is not an archive\n";
  ExpectRefusedArchive("release.tar.gz", "cannot read archive");
}

TEST_F(SafeUnpack, RefusesArchivesOverLimits) {
  WriteTarGz(ArchivePath(), {File("a", "1"), File("b", "2"), File("c", "3")});
  auto too_many = UnpackArchive(ArchivePath(), Dest(), UnpackLimits{2, 1000});
  ASSERT_FALSE(too_many.ok());
  EXPECT_THAT(too_many.status().message(), HasSubstr("more than 2 entries"));
  EXPECT_FALSE(fs::exists(Dest()));

  WriteTarGz(ArchivePath(), {File("small", "12345"), File("big", "1234567")});
  auto too_big = UnpackArchive(ArchivePath(), Dest(), UnpackLimits{100, 10});
  ASSERT_FALSE(too_big.ok());
  EXPECT_THAT(too_big.status().message(), HasSubstr("more than 10 bytes"));
  EXPECT_THAT(too_big.status().message(), HasSubstr("\"big\""));
  EXPECT_FALSE(fs::exists(Dest()));
}

TEST_F(SafeUnpack, RefusesExistingDestination) {
  WriteTarGz(ArchivePath(), {File("new.txt", "new")});
  fs::create_directory(Dest());
  std::ofstream(Dest() / "old.txt") << "old";
  auto r = UnpackArchive(ArchivePath(), Dest());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kAlreadyExists);
  EXPECT_THAT(r.status().message(), HasSubstr(Dest().string()));
  EXPECT_EQ(Listing(Dest()), std::set<std::string>{"old.txt"});
}

TEST_F(SafeUnpack, MissingArchiveIsNotFound) {
  auto r = UnpackArchive(root_.path() / "nope.tar.gz", Dest());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(fs::exists(Dest()));
}

}  // namespace
}  // namespace topos::agent
