#include "controller/topology/yaml_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "topos/v1/topology.pb.h"

namespace topos::topology {
namespace {

using ::testing::HasSubstr;

Status Load(const std::string& text, v1::Topology& topology, SourceMap& sources) {
  sources = SourceMap("t.yaml");
  return LoadYaml(text, topology, sources);
}

std::string LoadError(const std::string& text) {
  v1::Topology topology;
  SourceMap sources;
  Status status = Load(text, topology, sources);
  EXPECT_FALSE(status.ok()) << text;
  return status.message();
}

TEST(YamlLoader, LoadsFieldsByProtoName) {
  v1::Topology t;
  SourceMap sources;
  ASSERT_TRUE(Load("pools:\n"
                   "  - name: chat\n"
                   "    hosts: [a.test, b.test]\n"
                   "    compliance: on\n"
                   "stores:\n"
                   "  - name: db\n"
                   "    kind: database\n"
                   "services:\n"
                   "  - name: s\n"
                   "    prerequisites: {min_cpus: 4, min_memory_mb: 8192, ports: [80, 443]}\n"
                   "    health_check: {tcp_port: 5041}\n",
                   t, sources)
                  .ok());
  ASSERT_EQ(t.pools_size(), 1);
  EXPECT_EQ(t.pools(0).name(), "chat");
  EXPECT_THAT(t.pools(0).hosts(), ::testing::ElementsAre("a.test", "b.test"));
  EXPECT_TRUE(t.pools(0).compliance());
  EXPECT_EQ(t.stores(0).kind(), v1::STORE_KIND_DATABASE);
  EXPECT_EQ(t.services(0).prerequisites().min_cpus(), 4u);
  EXPECT_EQ(t.services(0).prerequisites().min_memory_mb(), 8192u);
  EXPECT_THAT(t.services(0).prerequisites().ports(), ::testing::ElementsAre(80u, 443u));
  EXPECT_EQ(t.services(0).health_check().tcp_port(), 5041u);
}

TEST(YamlLoader, RemembersWhereEachElementCameFrom) {
  v1::Topology t;
  SourceMap sources;
  ASSERT_TRUE(Load("pools:\n"
                   "  - name: fe\n"
                   "  - name: chat\n"
                   "    file_store: files\n"
                   "    hosts: [a.test, b.test]\n",
                   t, sources)
                  .ok());
  EXPECT_EQ(sources.Locate("pools[1]"), "t.yaml:3:5");
  EXPECT_EQ(sources.Locate("pools[1].file_store"), "t.yaml:4:17");
  EXPECT_EQ(sources.Locate("pools[1].hosts[1]"), "t.yaml:5:21");
  // A field that is absent is found at the element that lacks it.
  EXPECT_EQ(sources.Locate("pools[0].file_store"), "t.yaml:2:5");
}

TEST(YamlLoader, RejectsUnknownKeyAtItsPosition) {
  std::string error = LoadError("pools:\n  - name: chat\n    filestore: files\n");
  EXPECT_THAT(error, HasSubstr("t.yaml:3:5: unknown key \"filestore\""));
  EXPECT_THAT(error, HasSubstr("file_store"));  // the list of known keys helps spot the typo
}

TEST(YamlLoader, RejectsUnknownTopLevelKey) {
  EXPECT_THAT(LoadError("sites: []\npoolz: []\n"), HasSubstr("t.yaml:2:1: unknown key \"poolz\""));
}

TEST(YamlLoader, RejectsDuplicateKey) {
  EXPECT_THAT(LoadError("pools:\n  - name: a\n    name: b\n"),
              HasSubstr("t.yaml:3:5: duplicate key \"name\""));
}

TEST(YamlLoader, MalformedYamlGivesItsPosition) {
  EXPECT_THAT(LoadError("pools:\n  - name: [chat\n"), HasSubstr("t.yaml:3:1: invalid YAML"));
  EXPECT_THAT(LoadError("pools:\n  - name: a\n bad: x\n"), HasSubstr("t.yaml:3:2: invalid YAML"));
  EXPECT_THAT(LoadError("a: *nope\n"), HasSubstr("t.yaml:1:4: invalid YAML"));
  EXPECT_THAT(LoadError("a: b\n\tc: d\n"), HasSubstr("invalid YAML"));
}

TEST(YamlLoader, ExpectsAList) {
  EXPECT_THAT(LoadError("pools: chat\n"), HasSubstr("t.yaml:1:8: expected a list for \"pools\""));
  EXPECT_THAT(LoadError("pools:\n  - hosts: a.test\n"),
              HasSubstr("t.yaml:2:12: expected a list for \"hosts\""));
}

TEST(YamlLoader, ExpectsAnInteger) {
  EXPECT_THAT(
      LoadError("services:\n  - prerequisites:\n      min_cpus: many\n"),
      HasSubstr("t.yaml:3:17: expected a non-negative integer for \"min_cpus\", got \"many\""));
  EXPECT_THAT(LoadError("services:\n  - prerequisites: {min_cpus: -2}\n"),
              HasSubstr("t.yaml:2:31: expected a non-negative integer"));
  EXPECT_THAT(LoadError("services:\n  - prerequisites: {min_cpus: 4294967296}\n"),
              HasSubstr("expected a smaller integer"));
  EXPECT_THAT(LoadError("services:\n  - prerequisites: {ports: [80, http]}\n"),
              HasSubstr("t.yaml:2:33: expected a non-negative integer for \"ports\""));
}

TEST(YamlLoader, ExpectsOtherScalarTypes) {
  EXPECT_THAT(LoadError("pools:\n  - compliance: maybe\n"),
              HasSubstr("t.yaml:2:17: expected on/off"));
  EXPECT_THAT(LoadError("stores:\n  - kind: sql\n"),
              HasSubstr("t.yaml:2:11: expected one of database | file | compliance"));
  EXPECT_THAT(LoadError("stores:\n  - kind: unspecified\n"), HasSubstr("expected one of"));
  EXPECT_THAT(LoadError("pools:\n  - name: [a, b]\n"),
              HasSubstr("t.yaml:2:11: expected a string for \"name\", got a list"));
  EXPECT_THAT(LoadError("pools:\n  - chat\n"), HasSubstr("t.yaml:2:5: expected a mapping"));
  EXPECT_THAT(LoadError("- a\n"), HasSubstr("t.yaml:1:1: expected a mapping"));
}

TEST(YamlLoader, RejectsTwoMembersOfAOneof) {
  EXPECT_THAT(LoadError("services:\n  - health_check: {tcp_port: 1, command: x}\n"),
              HasSubstr("give only one of tcp_port, http_url, command"));
}

TEST(YamlLoader, ReportsEveryProblemAtOnce) {
  std::string error =
      LoadError("pools: 3\nhosts:\n  - fqdn: a.test\n    x: 1\nstores:\n  - kind: sql\n");
  EXPECT_THAT(error, HasSubstr("t.yaml:1:8:"));
  EXPECT_THAT(error, HasSubstr("t.yaml:4:5:"));
  EXPECT_THAT(error, HasSubstr("t.yaml:6:11:"));
}

TEST(YamlLoader, EmptyDocumentIsAnEmptyMessage) {
  v1::Topology t;
  SourceMap sources;
  EXPECT_TRUE(Load("", t, sources).ok());
  EXPECT_TRUE(Load("# nothing yet\n", t, sources).ok());
  EXPECT_EQ(t.pools_size(), 0);
}

TEST(YamlLoader, RefusesASecondDocument) {
  EXPECT_THAT(LoadError("sites: []\n---\nsites: []\n"), HasSubstr("second YAML document"));
}

TEST(YamlLoader, RefusesFilesOverOneMebibyte) {
  std::string big = "sites: []\n" + std::string(kMaxYamlFileBytes, '#');
  EXPECT_THAT(LoadError(big), HasSubstr("refused"));
  auto path =
      std::filesystem::temp_directory_path() /
      ("topos-big-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + ".yaml");
  std::ofstream(path) << big;
  v1::Topology t;
  SourceMap sources;
  Status status = LoadYamlFile(path, t, sources);
  std::filesystem::remove(path);
  EXPECT_THAT(status.message(), HasSubstr("refused"));
}

TEST(YamlLoader, MissingFileIsAnError) {
  v1::Topology t;
  SourceMap sources;
  EXPECT_FALSE(LoadYamlFile("/nonexistent/topology.yaml", t, sources).ok());
}

TEST(YamlLoader, BoundsAliasExpansion) {
  // A pool's 1,000 hosts named 300 times through an alias would be 300,000
  // values from a file of a few kilobytes.
  std::string text = "pools:\n  - hosts: &h [";
  for (int i = 0; i < 1000; ++i) text += (i ? ",a" : "a");
  text += "]\n";
  for (int i = 0; i < 300; ++i) text += "  - hosts: *h\n";
  EXPECT_THAT(LoadError(text), HasSubstr("too many aliases"));
}

TEST(YamlLoader, RefusesANestedAliasBomb) {
  // Anchors inside anchors: a 10 KB value named 100 times in a host list,
  // and the pool holding that list named 50 times. The file is about 12 KB,
  // the values it names 50 MB, in only 5,000 values.
  std::string text = "pools:\n  - &p {hosts: &h [&a " + std::string(10'000, 'x');
  for (int i = 0; i < 99; ++i) text += ", *a";
  text += "]}\n";
  for (int i = 0; i < 49; ++i) text += "  - *p\n";
  std::string error = LoadError(text);
  EXPECT_THAT(error,
              HasSubstr("the document expands to more than " + std::to_string(kMaxYamlValueBytes) +
                        " bytes of values (too many aliases?)"));
  EXPECT_EQ(error.find('\n'), std::string::npos) << "reported once: " << error.substr(0, 500);
}

TEST(YamlLoader, CountsMessagesWithoutValuesThroughAliases) {
  // 1,000 empty settings named by 300 pools: no scalar at all, but 300,000
  // messages to build.
  std::string text = "pools:\n  - settings: &s [";
  for (int i = 0; i < 1000; ++i) text += i ? ",{}" : "{}";
  text += "]\n";
  for (int i = 0; i < 299; ++i) text += "  - settings: *s\n";
  EXPECT_THAT(LoadError(text),
              HasSubstr("the document expands to more than " + std::to_string(kMaxYamlNodes) +
                        " values (too many aliases?)"));
}

TEST(YamlLoader, StrayCommaIsAnErrorNotAnEndlessDocumentList) {
  // yaml-cpp's LoadAll yields an empty document at a top-level "," forever.
  EXPECT_THAT(LoadError(","), HasSubstr("t.yaml:1:1: invalid YAML: unexpected \",\""));
  EXPECT_THAT(LoadError("# comment\n,x\nsites: []\n"),
              HasSubstr("t.yaml:2:1: invalid YAML: unexpected \",\""));
  EXPECT_THAT(LoadError("[a]\n,\n"), HasSubstr("t.yaml:2:1: invalid YAML: unexpected \",\""));
}

TEST(YamlLoader, NeverCrashesOnOddInput) {
  const std::vector<std::string> inputs = {
      "{",
      "}",
      "[",
      "- - -",
      "*a",
      "&a [*a]",
      "? [a]\n: b\n",
      "pools: {a: b}",
      "pools:\n  - ? [x]\n    : y\n",
      "\x01\x02\xff\xfe",
      "pools:\n  - name: !!binary aGk=\n",
      "%YAML 9.9\n---\na: b",
      "pools: [[[[[[[[[[]]]]]]]]]]",
      "services:\n  - health_check: 3\n",
      "stores:\n  - kind:\n",
      "pools:\n  - hosts: [~]\n",
      std::string(5000, '['),
      std::string(5000, '{'),
      std::string("a: ") + std::string(3000, '-'),
      ",",
      ",,,\n]\n}\n",
      "sites: []\n...\n,\n",
      "---\n---\n,\n",
  };
  for (const std::string& input : inputs) {
    v1::Topology t;
    SourceMap sources;
    (void)Load(input, t, sources);  // any result will do, as long as it returns
  }
}

}  // namespace
}  // namespace topos::topology
