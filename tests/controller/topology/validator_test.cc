#include "controller/topology/validator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace topos::topology {
namespace {

using ::testing::HasSubstr;

// A small valid topology; tests break one thing in it. Line numbers in the
// expectations below refer to this text.
constexpr const char* kBase =
    "sites:\n"                            // 1
    "  - name: main\n"                    // 2
    "hosts:\n"                            // 3
    "  - fqdn: fe01.contoso.test\n"       // 4
    "  - fqdn: chat01.contoso.test\n"     // 5
    "  - fqdn: sql01.contoso.test\n"      // 6
    "pools:\n"                            // 7
    "  - name: fe\n"                      // 8
    "    fqdn: fepool.contoso.test\n"     // 9
    "    role: frontend\n"                // 10
    "    site: main\n"                    // 11
    "    hosts: [fe01.contoso.test]\n"    // 12
    "  - name: chat\n"                    // 13
    "    fqdn: chatpool.contoso.test\n"   // 14
    "    role: persistent-chat\n"         // 15
    "    site: main\n"                    // 16
    "    hosts: [chat01.contoso.test]\n"  // 17
    "    database_store: db\n"            // 18
    "    file_store: files\n"             // 19
    "    routes_through: fe\n"            // 20
    "  - name: sql\n"                     // 21
    "    fqdn: sqlpool.contoso.test\n"    // 22
    "    role: database\n"                // 23
    "    site: main\n"                    // 24
    "    hosts: [sql01.contoso.test]\n"   // 25
    "stores:\n"                           // 26
    "  - name: db\n"                      // 27
    "    kind: database\n"                // 28
    "    host: sql01.contoso.test\n"      // 29
    "  - name: files\n"                   // 30
    "    kind: file\n"                    // 31
    "    host: sql01.contoso.test\n";     // 32

// The single-server shape: a chat pool collocated on a standard server.
constexpr const char* kStandard =
    "sites:\n"                           // 1
    "  - name: main\n"                   // 2
    "hosts:\n"                           // 3
    "  - fqdn: se01.contoso.test\n"      // 4
    "  - fqdn: sql01.contoso.test\n"     // 5
    "pools:\n"                           // 6
    "  - name: se\n"                     // 7
    "    fqdn: se01.contoso.test\n"      // 8
    "    role: frontend-standard\n"      // 9
    "    site: main\n"                   // 10
    "    hosts: [se01.contoso.test]\n"   // 11
    "  - name: chat\n"                   // 12
    "    fqdn: se01.contoso.test\n"      // 13
    "    role: persistent-chat\n"        // 14
    "    site: main\n"                   // 15
    "    hosts: [se01.contoso.test]\n"   // 16
    "    database_store: db\n"           // 17
    "    file_store: files\n"            // 18
    "    routes_through: se\n"           // 19
    "  - name: sql\n"                    // 20
    "    fqdn: sql01.contoso.test\n"     // 21
    "    role: database\n"               // 22
    "    site: main\n"                   // 23
    "    hosts: [sql01.contoso.test]\n"  // 24
    "stores:\n"                          // 25
    "  - name: db\n"                     // 26
    "    kind: database\n"               // 27
    "    host: se01.contoso.test\n"      // 28
    "  - name: files\n"                  // 29
    "    kind: file\n"                   // 30
    "    host: se01.contoso.test\n";     // 31

const RoleCatalog& Catalog() {
  static const RoleCatalog catalog = [] {
    auto loaded = RoleCatalog::LoadFile(TOPOS_EXAMPLES_DIR "/pchat/roles.yaml");
    if (!loaded.ok()) ADD_FAILURE() << loaded.status().message();
    return loaded.ok() ? *loaded : RoleCatalog();
  }();
  return catalog;
}

// Replaces the one occurrence of `from` (which must be there) with `to`.
std::string Edit(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::vector<ValidationError> Validate(const std::string& yaml) {
  auto loaded = LoadYamlAs<v1::Topology>(yaml, "t.yaml");
  EXPECT_TRUE(loaded.ok()) << loaded.status().message();
  if (!loaded.ok()) return {};
  return ValidateTopology(loaded->message, loaded->sources, Catalog());
}

std::string Dump(const std::vector<ValidationError>& errors) {
  std::string all;
  for (const auto& e : errors) all += e.ToString() + "\n";
  return all;
}

bool HasRule(const std::vector<ValidationError>& errors, const std::string& rule) {
  for (const auto& e : errors) {
    if (e.rule == rule) return true;
  }
  return false;
}

// Exactly one error, of `rule`, at t.yaml:`where`, whose text names the rule.
void ExpectOnly(const std::vector<ValidationError>& errors, const std::string& where,
                const std::string& rule) {
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  EXPECT_EQ(errors[0].rule, rule);
  EXPECT_THAT(errors[0].ToString(), HasSubstr("t.yaml:" + where + ": "));
  EXPECT_THAT(errors[0].ToString(), HasSubstr("(rule " + rule + ")"));
}

TEST(Validator, BaseAndStandardShapesAreValid) {
  EXPECT_EQ(Dump(Validate(kBase)), "");
  EXPECT_EQ(Dump(Validate(kStandard)), "");
}

TEST(Validator, ShippedExamplesAreValid) {
  for (const char* name : {"/pchat/topology.yaml", "/pchat/standard.yaml"}) {
    auto loaded = LoadYamlFileAs<v1::Topology>(std::string(TOPOS_EXAMPLES_DIR) + name);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    EXPECT_EQ(Dump(ValidateTopology(loaded->message, loaded->sources, Catalog())), "") << name;
  }
}

TEST(Validator, MessageReadsLikeTheIssue) {
  auto errors = Validate(Edit(kBase, "    file_store: files\n", ""));
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  EXPECT_EQ(errors[0].ToString(),
            "t.yaml:13:5: pool \"chat\": no file store (set file_store: <a file store>) "
            "(rule chat-needs-file-store)");
}

TEST(Validator, RequiredFieldPassesAndFails) {
  EXPECT_FALSE(HasRule(Validate(kBase), "required-field"));
  ExpectOnly(Validate(Edit(kBase, "    role: database\n", "")), "21:5", "required-field");
}

// kBase with one service of the chat role; `extra` adds its last fields
// (the service's fields start on line 34).
std::string WithService(const std::string& extra) {
  return std::string(kBase) +
         "services:\n"                   // 33
         "  - name: chat\n"              // 34
         "    role: persistent-chat\n"   // 35
         "    version: \"1.0\"\n"        // 36
         "    artifact: chat.tar.gz\n" +  // 37
         extra;                           // 38 on
}

TEST(Validator, ServiceSignalsMustBeOnesTheAgentsCanSend) {
  EXPECT_TRUE(Validate(WithService("")).empty()) << Dump(Validate(WithService("")));
  for (const char* good : {"    reload: HUP\n", "    reload: sighup\n", "    reload: restart\n",
                           "    stop_signal: TERM\n    reload: USR1\n", "    stop_signal: SIGINT\n"}) {
    auto errors = Validate(WithService(good));
    EXPECT_TRUE(errors.empty()) << good << Dump(errors);
  }

  auto bad_reload = Validate(WithService("    reload: HUPP\n"));
  ExpectOnly(bad_reload, "38:13", "signal-name");
  EXPECT_THAT(bad_reload[0].ToString(), HasSubstr("service \"chat\""));
  EXPECT_THAT(bad_reload[0].ToString(), HasSubstr("reload: unknown signal \"HUPP\""));
  EXPECT_THAT(bad_reload[0].ToString(), HasSubstr("HUP, USR1, USR2"));
  EXPECT_THAT(bad_reload[0].ToString(), HasSubstr("or \"restart\""));

  auto bad_stop = Validate(WithService("    stop_signal: 9\n"));
  ExpectOnly(bad_stop, "38:18", "signal-name");
  EXPECT_THAT(bad_stop[0].ToString(), HasSubstr("stop_signal: unknown signal \"9\""));

  EXPECT_EQ(Validate(WithService("    stop_signal: TERMINATE\n    reload: reboot\n")).size(), 2u);
}

TEST(Validator, NameUniquePassesAndFails) {
  EXPECT_FALSE(HasRule(Validate(kBase), "name-unique"));
  ExpectOnly(Validate(Edit(kBase, "  - name: sql\n", "  - name: fe\n")), "21:11", "name-unique");
}

TEST(Validator, FqdnValidPassesAndFails) {
  EXPECT_FALSE(HasRule(Validate(kBase), "fqdn-valid"));
  ExpectOnly(Validate(Edit(kBase, "fqdn: fepool.contoso.test", "fqdn: fe_pool.contoso.test")),
             "9:11", "fqdn-valid");
}

TEST(Validator, FqdnUniquePassesAndFails) {
  // A single-server pool may take its server's name.
  EXPECT_FALSE(
      HasRule(Validate(Edit(kBase, "sqlpool.contoso.test", "sql01.contoso.test")), "fqdn-unique"));
  ExpectOnly(Validate(Edit(kBase, "chatpool.contoso.test", "fepool.contoso.test")), "14:11",
             "fqdn-unique");
  // ... but not the name of a host outside it.
  ExpectOnly(Validate(Edit(kBase, "chatpool.contoso.test", "fe01.contoso.test")), "14:11",
             "fqdn-unique");
}

TEST(Validator, FqdnUniqueRejectsAHostListedTwice) {
  auto errors = Validate(Edit(kBase, "  - fqdn: sql01.contoso.test\n",
                              "  - fqdn: sql01.contoso.test\n  - fqdn: sql01.contoso.test\n"));
  ExpectOnly(errors, "7:11", "fqdn-unique");
}

TEST(Validator, HostInOnePoolPassesAndFails) {
  EXPECT_FALSE(HasRule(Validate(kBase), "host-in-one-pool"));
  EXPECT_FALSE(
      HasRule(Validate(kStandard), "host-in-one-pool"));  // collocated on a standard server
  auto errors = Validate(
      Edit(kBase, "hosts: [sql01.contoso.test]", "hosts: [sql01.contoso.test, fe01.contoso.test]"));
  ExpectOnly(errors, "4:5", "host-in-one-pool");
  EXPECT_THAT(errors[0].ToString(), HasSubstr("in pools \"fe\", \"sql\""));
}

TEST(Validator, HostInOnePoolRejectsAHostInNoPool) {
  auto errors = Validate(Edit(kBase, "pools:\n", "  - fqdn: spare.contoso.test\npools:\n"));
  ExpectOnly(errors, "7:5", "host-in-one-pool");
}

TEST(Validator, ReferenceResolvesPassesAndFails) {
  EXPECT_FALSE(HasRule(Validate(kBase), "reference-resolves"));
  ExpectOnly(Validate(Edit(kBase, "    site: main\n    hosts: [chat01",
                           "    site: mian\n    hosts: [chat01")),
             "16:11", "reference-resolves");
  ExpectOnly(Validate(Edit(kBase, "file_store: files", "file_store: db")), "19:17",
             "reference-resolves");  // a database store where a file store belongs
  ExpectOnly(Validate(Edit(kBase, "database_store: db", "database_store: dbb")), "18:21",
             "reference-resolves");
  ExpectOnly(Validate(Edit(kBase, "role: database", "role: sql-server")), "23:11",
             "reference-resolves");
  ExpectOnly(Validate(Edit(kBase, "kind: file\n    host: sql01", "kind: file\n    host: fs01")),
             "32:11", "reference-resolves");
  ExpectOnly(Validate(kBase + std::string("    backup: nowhere\n")), "33:13", "reference-resolves");
  ExpectOnly(Validate(kBase + std::string("services:\n  - name: s\n    role: chat\n")), "35:11",
             "reference-resolves");
}

TEST(Validator, ReferenceResolvesFindsAssociatedPoolAndHosts) {
  ExpectOnly(Validate(Edit(kBase, "routes_through: fe", "routes_through: ef")), "20:21",
             "reference-resolves");
  auto errors = Validate(Edit(kBase, "hosts: [chat01.contoso.test]",
                              "hosts: [chat01.contoso.test, chat09.contoso.test]"));
  ExpectOnly(errors, "17:34", "reference-resolves");
}

TEST(Validator, StoreNotOwnBackupPassesAndFails) {
  std::string with_backup = kBase + std::string(
                                        "    backup: files2\n"
                                        "  - name: files2\n"
                                        "    kind: file\n"
                                        "    host: sql01.contoso.test\n");
  EXPECT_EQ(Dump(Validate(with_backup)), "");
  ExpectOnly(Validate(kBase + std::string("    backup: files\n")), "33:13", "store-not-own-backup");
}

TEST(Validator, NeedsDatabaseStorePassesAndFails) {
  EXPECT_FALSE(HasRule(Validate(kBase), "chat-needs-database-store"));
  ExpectOnly(Validate(Edit(kBase, "    database_store: db\n", "")), "13:5",
             "chat-needs-database-store");
}

TEST(Validator, NeedsFileStorePassesAndFails) {
  EXPECT_FALSE(HasRule(Validate(kBase), "chat-needs-file-store"));
  ExpectOnly(Validate(Edit(kBase, "    file_store: files\n", "")), "13:5", "chat-needs-file-store");
}

TEST(Validator, NeedsAssociationPassesAndFails) {
  EXPECT_FALSE(HasRule(Validate(kBase), "chat-needs-association"));
  ExpectOnly(Validate(Edit(kBase, "    routes_through: fe\n", "")), "13:5",
             "chat-needs-association");
  // Associated, but with a pool that is not a front end.
  ExpectOnly(Validate(Edit(kBase, "routes_through: fe", "routes_through: sql")), "20:21",
             "chat-needs-association");
}

TEST(Validator, ComplianceNeedsStorePassesAndFails) {
  std::string compliance_on =
      Edit(kBase, "    database_store: db\n", "    compliance: on\n    database_store: db\n");
  ExpectOnly(Validate(compliance_on), "18:17", "chat-compliance-needs-store");
  std::string with_store =
      Edit(compliance_on, "    routes_through: fe\n",
           "    routes_through: fe\n    compliance_store: archive\n") +
      "  - name: archive\n    kind: compliance\n    host: sql01.contoso.test\n";
  EXPECT_EQ(Dump(Validate(with_store)), "");
  // Compliance off needs no store.
  EXPECT_EQ(Dump(Validate(Edit(compliance_on, "compliance: on", "compliance: off"))), "");
}

// kBase with a chat pool of `n` servers.
std::string WithChatServers(int n) {
  std::string hosts, list;
  for (int i = 1; i <= n; ++i) {
    std::string fqdn = "chat0" + std::to_string(i) + ".contoso.test";
    hosts += "  - fqdn: " + fqdn + "\n";
    list += (i == 1 ? "" : ", ") + fqdn;
  }
  std::string text = Edit(kBase, "  - fqdn: chat01.contoso.test\n", hosts);
  return Edit(text, "hosts: [chat01.contoso.test]", "hosts: [" + list + "]");
}

TEST(Validator, MaxHostsPassesAndFails) {
  EXPECT_EQ(Dump(Validate(WithChatServers(4))), "");
  // Four more host lines push the pool down: chat's hosts are on line 21.
  ExpectOnly(Validate(WithChatServers(5)), "21:12", "chat-max-hosts");
}

TEST(Validator, StandardShapeNeedsTheServersFqdn) {
  EXPECT_FALSE(HasRule(Validate(kStandard), "chat-standard-shape"));
  auto errors = Validate(Edit(kStandard, "    fqdn: se01.contoso.test\n    role: persistent-chat",
                              "    fqdn: chat.contoso.test\n    role: persistent-chat"));
  ExpectOnly(errors, "13:11", "chat-standard-shape");
  EXPECT_THAT(errors[0].ToString(), HasSubstr("its FQDN must be \"se01.contoso.test\""));
}

TEST(Validator, StandardShapeKeepsStoresOnTheServer) {
  auto errors =
      Validate(Edit(kStandard, "kind: file\n    host: se01", "kind: file\n    host: sql01"));
  ExpectOnly(errors, "18:17", "chat-standard-shape");
  EXPECT_THAT(errors[0].ToString(), HasSubstr("put the store on \"se01.contoso.test\""));
}

TEST(Validator, ReportsAllErrorsAtOnceSortedByLine) {
  std::string broken = Edit(kBase, "    file_store: files\n", "");  // chat-needs-file-store 13:5
  broken = Edit(broken, "fepool.contoso.test", "FEPOOL.contoso.test");  // fqdn-valid 9:11
  broken = Edit(broken, "role: database", "role: dba");                 // reference-resolves
  broken += "    backup: files\n";                                      // store-not-own-backup
  auto errors = Validate(broken);
  ASSERT_EQ(errors.size(), 4u) << Dump(errors);
  EXPECT_EQ(errors[0].rule, "fqdn-valid");
  EXPECT_EQ(errors[1].rule, "chat-needs-file-store");
  EXPECT_EQ(errors[2].rule, "reference-resolves");
  EXPECT_EQ(errors[3].rule, "store-not-own-backup");
  for (std::size_t i = 1; i < errors.size(); ++i) {
    EXPECT_LE(errors[i - 1].position.line, errors[i].position.line);
  }
}

// Like a file that broke `toposctl topology validate`: 500 pools share one
// list of 400 hosts through an alias, none of them defined. That is 201,500
// problems from 34 KB of YAML.
std::string AliasMultiplied() {
  std::string text = "hosts: [{fqdn: a.b}]\npools:\n  - {name: p0, hosts: &h [";
  for (int i = 0; i < 400; ++i) text += (i ? ",a" : "a") + std::to_string(i) + ".b";
  text += "], fqdn: x.y, role: frontend, site: s}\n";
  for (int i = 1; i < 500; ++i) {
    text +=
        "  - {name: p" + std::to_string(i) + ", hosts: *h, fqdn: x.y, role: frontend, site: s}\n";
  }
  text += "sites: [{name: s}]\n";
  return text;
}

TEST(Validator, AliasMultipliedTopologyReportsBoundedProblems) {
  auto errors = Validate(AliasMultiplied());
  ASSERT_EQ(errors.size(), kMaxReportedProblems + 1);
  std::string dump = Dump(errors);
  EXPECT_LE(std::count(dump.begin(), dump.end(), '\n'), 201);
  // 200,000 undefined hosts, 499 pools sharing an FQDN, 500 over max-hosts
  // and the host in no pool: 201,000, of which the 200 first by position
  // are reported.
  EXPECT_TRUE(errors.back().IsSummary());
  EXPECT_EQ(errors.back().ToString(), "... and 200800 more problems (fix these first)");
  EXPECT_EQ(errors[0].ToString(),
            "t.yaml:1:9: host \"a.b\": in no pool; add it to one pool's hosts or remove it "
            "(rule host-in-one-pool)");
  for (std::size_t i = 0; i < kMaxReportedProblems; ++i) {
    EXPECT_FALSE(errors[i].IsSummary());
    if (i > 0) {
      EXPECT_LE(std::pair(errors[i - 1].position.line, errors[i - 1].position.column),
                std::pair(errors[i].position.line, errors[i].position.column));
    }
  }
}

TEST(Validator, ReportsEveryProblemUpToTheCapWithoutASummary) {
  std::string text = "sites: [{name: s}]\npools:\n";
  std::string hosts = "hosts:\n";
  for (int i = 0; i < 200; ++i) {
    std::string n = std::to_string(i);
    text += "  - {name: p" + n + ", fqdn: p" + n + ".x.test, role: database, site: t, hosts: [h" +
            n + ".x.test]}\n";
    hosts += "  - {fqdn: h" + n + ".x.test}\n";
  }
  text += hosts;
  auto errors = Validate(text);  // 200 pools at a site not defined
  ASSERT_EQ(errors.size(), kMaxReportedProblems) << Dump(errors).substr(0, 2000);
  EXPECT_FALSE(errors.back().IsSummary());
  errors = Validate(text + "  - {fqdn: b.x.test}\n");  // and a host in no pool
  ASSERT_EQ(errors.size(), kMaxReportedProblems + 1);
  EXPECT_EQ(errors.back().ToString(), "... and 1 more problems (fix these first)");
  EXPECT_EQ(errors[kMaxReportedProblems - 1].rule, "reference-resolves");  // the last by line
}

TEST(Validator, HostInManyPoolsNamesTheFirstFew) {
  std::string text = "sites: [{name: s}]\nhosts: [{fqdn: a.x.test}]\npools:\n";
  for (int i = 0; i < 12; ++i) {
    text += "  - {name: p" + std::to_string(i) + ", fqdn: p" + std::to_string(i) +
            ".x.test, role: database, site: s, hosts: [a.x.test]}\n";
  }
  auto errors = Validate(text);
  ExpectOnly(errors, "2:9", "host-in-one-pool");
  EXPECT_THAT(errors[0].ToString(),
              HasSubstr("in pools \"p0\", \"p1\", \"p2\", \"p3\", \"p4\", \"p5\", \"p6\", "
                        "\"p7\", \"p8\", \"p9\" and 2 more; a host belongs to one pool"));
}

TEST(Validator, ServerOfTwoStandardPoolsIsOnlyHostInOnePool) {
  std::string text = Edit(kStandard, "  - name: chat\n",
                          "  - name: se2\n"
                          "    fqdn: se01.contoso.test\n"
                          "    role: frontend-standard\n"
                          "    site: main\n"
                          "    hosts: [se01.contoso.test]\n"
                          "  - name: chat\n");
  auto errors = Validate(text);
  EXPECT_TRUE(HasRule(errors, "host-in-one-pool")) << Dump(errors);
  EXPECT_FALSE(HasRule(errors, "chat-standard-shape")) << Dump(errors);
  EXPECT_FALSE(HasRule(errors, "frontend-standard-standard-shape")) << Dump(errors);
}

}  // namespace
}  // namespace topos::topology
