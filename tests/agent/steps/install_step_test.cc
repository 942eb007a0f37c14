// install_service and rollback: unpacking into versions/V, switching
// `current`, refusing bad archives and failing hooks without touching what
// was installed before, keeping one previous version.
#include <signal.h>

#include "tests/agent/steps/steps_fixture.h"

namespace topos::agent::steps_test {
namespace {

class InstallStep : public StepsTest {
 protected:
  // Installs web 1.0 (a working release) and checks it went in.
  void InstallFirst() {
    auto installed = Install(Manifest("web", "1.0"), {IdleService("web 1.0")});
    ASSERT_TRUE(installed.ok()) << installed.status().message();
    ASSERT_EQ(CurrentTarget("web"), "versions/1.0");
  }

  // web 1.0 is still what is installed, untouched, and nothing of 2.0 is left.
  void ExpectFirstStillCurrent() {
    EXPECT_EQ(CurrentTarget("web"), "versions/1.0");
    EXPECT_THAT(Slurp(ServiceDir("web") / "current" / "bin" / "svc"), HasSubstr("web 1.0"));
    EXPECT_EQ(Names(ServiceDir("web") / "versions"), std::set<std::string>{"1.0"})
        << "no new version directory and no staging directory left behind";
    auto record = journal_->GetService("web");
    ASSERT_TRUE(record.ok()) << record.status().message();
    EXPECT_EQ(record->version(), "1.0");
    EXPECT_TRUE(record->previous_version().empty());
  }

  // A hook that records its pid (= its process group) outside the version directory.
  std::string PidRecordingHook(const std::string& then) const {
    return "echo $$ > " + (root_ / "hook.pid").string() + "; " + then;
  }
  pid_t WaitForHookPid() const {
    pid_t pid = 0;
    Eventually([&] {
      std::string text = Slurp(root_ / "hook.pid");
      if (text.empty() || text.back() != '\n') return false;
      pid = static_cast<pid_t>(std::stol(text));
      return true;
    });
    return pid;
  }
};

TEST_F(InstallStep, InstallsIntoAVersionDirectoryAndPointsCurrentAtIt) {
  topos::v1::ArtifactRef ref;
  auto installed = Install(Manifest("web", "1.0"),
                           {IdleService("web 1.0"), {"etc/app.conf", "port=1\n", 0640, ""}}, &ref);
  ASSERT_TRUE(installed.ok()) << installed.status().message();
  EXPECT_TRUE(installed->changed());
  EXPECT_EQ(installed->version(), "1.0");
  EXPECT_THAT(installed->summary(), HasSubstr("installed web 1.0"));
  EXPECT_THAT(installed->summary(), HasSubstr(ref.sha256().substr(0, 12)));

  fs::path version = ServiceDir("web") / "versions" / "1.0";
  EXPECT_EQ(CurrentTarget("web"), "versions/1.0");
  EXPECT_EQ(Slurp(version / "etc" / "app.conf"), "port=1\n");
  EXPECT_EQ(fs::status(version / "bin" / "svc").permissions() & fs::perms::owner_exec,
            fs::perms::owner_exec);
  auto record = journal_->GetService("web");
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_EQ(record->version(), "1.0");
  EXPECT_EQ(record->sha256(), ref.sha256());
  EXPECT_FALSE(record->should_run());
}

TEST_F(InstallStep, SameDigestAgainChangesNothing) {
  topos::v1::ArtifactRef ref;
  ASSERT_TRUE(Install(Manifest("web", "1.0"), {IdleService()}, &ref).ok());
  Spit(ServiceDir("web") / "versions" / "1.0" / "state-written-by-the-service", "keep me");

  auto again = Run(InstallServiceStep, Step("install-again", topos::v1::INSTALL_SERVICE, "web", ref));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_FALSE(again->changed());
  EXPECT_THAT(again->summary(), HasSubstr("web 1.0 already installed"));
  EXPECT_EQ(Slurp(ServiceDir("web") / "versions" / "1.0" / "state-written-by-the-service"),
            "keep me");
}

TEST_F(InstallStep, SameVersionFromAnotherArtifactIsRefused) {
  InstallFirst();
  auto other = Install(Manifest("web", "1.0"), {IdleService("rebuilt")});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(other.status().message(), HasSubstr("publish the new artifact under a new version"));
  ExpectFirstStillCurrent();
}

TEST_F(InstallStep, ArchiveEscapingTheDirectoryFailsAndKeepsThePreviousVersion) {
  InstallFirst();
  const std::string absolute = (root_ / "abs-evil").string();
  struct Case {
    TarEntry evil;
    std::string named;
  } cases[] = {
      {{"../x", "x", 0644, ""}, "entry \"../x\""},
      {{absolute, "x", 0644, ""}, "entry \"" + absolute + "\""},
      {{"link", "", 0777, "../../../outside"}, "entry \"link\""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.named);
    auto refused = Install(Manifest("web", "2.0"), {IdleService("web 2.0"), c.evil});
    ASSERT_FALSE(refused.ok());
    EXPECT_THAT(refused.status().message(), HasSubstr(c.named));
    EXPECT_THAT(refused.status().message(), HasSubstr("unpack "));
    ExpectFirstStillCurrent();
  }
  EXPECT_FALSE(fs::exists(root_ / "x"));
  EXPECT_FALSE(fs::exists(absolute));
  EXPECT_FALSE(fs::exists(state_dir_ / "services" / "x"));
}

// ArtifactCache::Fetch trusts a file already at <cache>/<sha256> without
// re-hashing (only verified downloads are ever renamed there), so a tampered
// cache file cannot be detected at install time. What is verified is a
// download: here a complete-looking <sha256>.partial whose bytes do not match.
TEST_F(InstallStep, DownloadWithTheWrongDigestIsRefusedAndDeleted) {
  InstallFirst();
  fs::path tarball = root_ / "unseeded.tar.gz";
  WriteTarGz(tarball, {IdleService("web 2.0")});
  std::string bytes = Slurp(tarball);
  topos::v1::ArtifactRef ref;
  ref.set_sha256(certs::Sha256Hex(bytes));
  ref.set_size(bytes.size());
  bytes[bytes.size() / 2] ^= 0x5a;
  fs::path partial = state_dir_ / "artifacts" / (ref.sha256() + ".partial");
  Spit(partial, bytes);

  Publish({Manifest("web", "2.0")});
  auto refused = Run(InstallServiceStep, Step("install-tampered", topos::v1::INSTALL_SERVICE, "web", ref));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(),
              HasSubstr("artifact " + ref.sha256() + " failed verification"));
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_FALSE(artifacts_->Has(ref.sha256()));
  ExpectFirstStillCurrent();
}

TEST_F(InstallStep, MissingArtifactWithNoControllerFailsNamingIt) {
  InstallFirst();
  Publish({Manifest("web", "2.0")});
  topos::v1::ArtifactRef ref;
  ref.set_sha256(std::string(64, 'a'));
  ref.set_size(10);
  auto failed = Run(InstallServiceStep, Step("install-unfetchable", topos::v1::INSTALL_SERVICE, "web", ref),
                    5s);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("fetching artifact " + ref.sha256()));
  ExpectFirstStillCurrent();
}

TEST_F(InstallStep, FailingInstallHookKeepsThePreviousVersion) {
  InstallFirst();
  auto manifest = Manifest("web", "2.0");
  manifest.mutable_install_hook()->add_argv("/bin/sh");
  manifest.mutable_install_hook()->add_argv("-c");
  manifest.mutable_install_hook()->add_argv("echo migrating schema; echo 'no database' >&2; exit 1");
  auto failed = Install(manifest, {IdleService("web 2.0")});
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("install hook exited with status 1"));
  EXPECT_THAT(failed.status().message(), HasSubstr("no database"));
  EXPECT_THAT(output_, HasSubstr("migrating schema")) << "hook output is streamed";
  ExpectFirstStillCurrent();
}

TEST_F(InstallStep, InstallHookRunsInTheNewVersionDirectory) {
  InstallFirst();
  auto manifest = Manifest("web", "2.0");
  manifest.mutable_install_hook()->add_argv("/bin/sh");
  manifest.mutable_install_hook()->add_argv("-c");
  manifest.mutable_install_hook()->add_argv("pwd > hook-ran-in; echo $TOPOS_VERSION_DIR >> hook-ran-in");
  auto installed = Install(manifest, {IdleService("web 2.0")});
  ASSERT_TRUE(installed.ok()) << installed.status().message();
  fs::path version = ServiceDir("web") / "versions" / "2.0";
  EXPECT_EQ(Slurp(version / "hook-ran-in"), version.string() + "\n" + version.string() + "\n");
}

TEST_F(InstallStep, InstallHookTimeoutKillsItsProcessGroup) {
  InstallFirst();
  auto manifest = Manifest("web", "2.0");
  manifest.mutable_install_hook()->add_argv("/bin/sh");
  manifest.mutable_install_hook()->add_argv("-c");
  manifest.mutable_install_hook()->add_argv(PidRecordingHook("sleep 30 & sleep 30"));
  manifest.mutable_install_hook()->set_timeout_seconds(1);
  auto started = std::chrono::steady_clock::now();
  auto failed = Install(manifest, {IdleService("web 2.0")});
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("install hook timed out after 1s"));
  EXPECT_LT(took, 8s);
  pid_t group = WaitForHookPid();
  ASSERT_GT(group, 0);
  EXPECT_FALSE(GroupHasLiveMembers(group)) << "the hook's background sleep must be gone too";
  ExpectFirstStillCurrent();
}

TEST_F(InstallStep, KeepsOnePreviousVersionAndPrunesOlderOnes) {
  InstallFirst();
  const std::string first_sha = journal_->GetService("web")->sha256();

  topos::v1::ArtifactRef second;
  auto two = Install(Manifest("web", "2.0"), {IdleService("web 2.0")}, &second);
  ASSERT_TRUE(two.ok()) << two.status().message();
  EXPECT_EQ(CurrentTarget("web"), "versions/2.0");
  EXPECT_EQ(Names(ServiceDir("web") / "versions"), (std::set<std::string>{"1.0", "2.0"}));
  auto record = journal_->GetService("web");
  EXPECT_EQ(record->version(), "2.0");
  EXPECT_EQ(record->previous_version(), "1.0");
  EXPECT_EQ(record->previous_sha256(), first_sha);

  auto three = Install(Manifest("web", "3.0"), {IdleService("web 3.0")});
  ASSERT_TRUE(three.ok()) << three.status().message();
  EXPECT_EQ(CurrentTarget("web"), "versions/3.0");
  EXPECT_EQ(Names(ServiceDir("web") / "versions"), (std::set<std::string>{"2.0", "3.0"}));
  record = journal_->GetService("web");
  EXPECT_EQ(record->previous_version(), "2.0");
  EXPECT_EQ(record->previous_sha256(), second.sha256());
}

TEST_F(InstallStep, RollbackSwitchesBackToThePreviousVersion) {
  InstallFirst();
  ASSERT_TRUE(Install(Manifest("web", "2.0"), {IdleService("web 2.0")}).ok());

  auto rolled = Run(RollbackStep, Step("rollback-1", topos::v1::ROLLBACK, "web"));
  ASSERT_TRUE(rolled.ok()) << rolled.status().message();
  EXPECT_TRUE(rolled->changed());
  EXPECT_EQ(rolled->version(), "1.0");
  EXPECT_THAT(rolled->summary(), HasSubstr("rolled web back from 2.0 to 1.0"));
  EXPECT_EQ(CurrentTarget("web"), "versions/1.0");
  EXPECT_THAT(Slurp(ServiceDir("web") / "current" / "bin" / "svc"), HasSubstr("web 1.0"));
  auto record = journal_->GetService("web");
  EXPECT_EQ(record->version(), "1.0");
  EXPECT_EQ(record->previous_version(), "2.0") << "rolling back again returns to 2.0";
  EXPECT_EQ(Names(ServiceDir("web") / "versions"), (std::set<std::string>{"1.0", "2.0"}));
}

TEST_F(InstallStep, RollbackWithoutAPreviousVersionFails) {
  InstallFirst();
  auto refused = Run(RollbackStep, Step("rollback-none", topos::v1::ROLLBACK, "web"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("web has no previous version to roll back to"));
  EXPECT_EQ(CurrentTarget("web"), "versions/1.0");
}

TEST_F(InstallStep, ServiceMissingFromTheSliceFailsNamingIt) {
  Publish({Manifest("web", "1.0")}, 7);
  auto ref = Artifact({IdleService()});
  auto failed = Run(InstallServiceStep, Step("install-api", topos::v1::INSTALL_SERVICE, "api", ref));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(failed.status().message(),
              HasSubstr("service \"api\" is not in this host's configuration (version 7)"));
  EXPECT_FALSE(fs::exists(ServiceDir("api")));
}

}  // namespace
}  // namespace topos::agent::steps_test
