#include "controller/topology/role_catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace topos::topology {
namespace {

using ::testing::HasSubstr;

TEST(RoleCatalog, LoadsTheShippedCatalog) {
  auto catalog = RoleCatalog::LoadFile(TOPOS_EXAMPLES_DIR "/pchat/roles.yaml");
  ASSERT_TRUE(catalog.ok()) << catalog.status().message();
  const v1::Role* chat = catalog->Find("persistent-chat");
  ASSERT_NE(chat, nullptr);
  EXPECT_TRUE(chat->requires_database_store());
  EXPECT_TRUE(chat->requires_file_store());
  EXPECT_EQ(chat->max_hosts(), 4u);
  EXPECT_EQ(RoleCatalog::RuleName(*chat, "needs-file-store"), "chat-needs-file-store");
  ASSERT_NE(catalog->Find("frontend-standard"), nullptr);
  EXPECT_TRUE(catalog->Find("frontend-standard")->standard());
  EXPECT_EQ(catalog->Find("no-such-role"), nullptr);
}

TEST(RoleCatalog, RuleNameFallsBackToTheRoleName) {
  v1::Role role;
  role.set_name("frontend");
  EXPECT_EQ(RoleCatalog::RuleName(role, "max-hosts"), "frontend-max-hosts");
}

TEST(RoleCatalog, RejectsARoleDefinedTwice) {
  auto catalog = RoleCatalog::LoadText("roles:\n  - name: a\n  - name: a\n", "r.yaml");
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.status().message(), HasSubstr("r.yaml:3:11: role \"a\" is defined twice"));
}

TEST(RoleCatalog, RejectsReferencesToUnknownRoles) {
  auto catalog = RoleCatalog::LoadText(
      "roles:\n  - name: a\n    deploy_after: [b]\n    requires_association_with_roles: [c]\n",
      "r.yaml");
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.status().message(), HasSubstr("r.yaml:3:20: role \"a\": deploy_after"));
  EXPECT_THAT(catalog.status().message(), HasSubstr("r.yaml:4:39:"));
}

TEST(RoleCatalog, ReportsLoaderErrors) {
  auto catalog = RoleCatalog::LoadText("roles:\n  - name: a\n    max_host: 3\n", "r.yaml");
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.status().message(), HasSubstr("r.yaml:3:5: unknown key \"max_host\""));
}

}  // namespace
}  // namespace topos::topology
