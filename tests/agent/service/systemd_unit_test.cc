#include "agent/service/systemd_unit.h"

#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace topos::agent {
namespace {

ServiceRunSpec BasicSpec() {
  ServiceRunSpec spec;
  spec.name = "pchat";
  spec.version = "1.2.3";
  spec.command.argv = {"/opt/pchat/bin/pchat", "--port", "8080"};
  spec.command.working_dir = "/opt/pchat";
  spec.log_file = "/var/log/topos/pchat.log";
  return spec;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::vector<std::string> LinesStartingWith(const std::string& text, const std::string& prefix) {
  std::vector<std::string> found;
  for (const std::string& line : Lines(text)) {
    if (line.rfind(prefix, 0) == 0) found.push_back(line);
  }
  return found;
}

// Decodes a line of double-quoted words the way systemd does for what
// RenderUnit writes: \\ and \" inside quotes, then $$ and %% to one character.
std::vector<std::string> DecodeWords(const std::string& value) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < value.size()) {
    if (value[i] == ' ') {
      ++i;
      continue;
    }
    EXPECT_EQ(value[i], '"') << "unquoted word in " << value;
    std::string word;
    for (++i; i < value.size() && value[i] != '"'; ++i) {
      if (value[i] == '\\') ++i;
      word += value[i];
    }
    ++i;
    std::string decoded;
    for (std::size_t j = 0; j < word.size(); ++j) {
      decoded += word[j];
      if ((word[j] == '$' || word[j] == '%') && j + 1 < word.size() && word[j + 1] == word[j]) ++j;
    }
    words.push_back(decoded);
  }
  return words;
}

TEST(SystemdUnit, NamesTheUnitFile) { EXPECT_EQ(UnitFileName("pchat"), "topos-pchat.service"); }

TEST(SystemdUnit, RendersEveryDirective) {
  ServiceRunSpec spec = BasicSpec();
  spec.stop_signal = 1;
  spec.stop_timeout = std::chrono::seconds(7);
  spec.restart_backoff = std::chrono::seconds(3);
  spec.max_restarts = 4;
  spec.command.env = {{"MODE", "prod"}};
  spec.command.run_as = RunAsUser{1001, 1002};
  Result<std::string> unit = RenderUnit(spec);
  ASSERT_TRUE(unit.ok()) << unit.status().message();
  const std::string& text = *unit;
  for (const char* expected :
       {"[Unit]", "Description=Topos service pchat (version 1.2.3)", "StartLimitBurst=5",
        "[Service]", "Type=simple",
        R"(ExecStart="/opt/pchat/bin/pchat" "--port" "8080")", "WorkingDirectory=/opt/pchat",
        R"(Environment="MODE=prod")", "User=1001", "Group=1002", "KillMode=control-group",
        "KillSignal=SIGHUP", "TimeoutStopSec=7s", "Restart=on-failure", "RestartSec=3s",
        "StandardOutput=append:/var/log/topos/pchat.log",
        "StandardError=append:/var/log/topos/pchat.log", "[Install]",
        "WantedBy=multi-user.target"}) {
    EXPECT_EQ(LinesStartingWith(text, expected).size(), 1u) << expected << "\n" << text;
  }
  EXPECT_EQ(UnitVersion(text), "1.2.3");
}

TEST(SystemdUnit, OmitsUserAndLogsWhenNotGiven) {
  ServiceRunSpec spec = BasicSpec();
  spec.log_file.clear();
  spec.command.working_dir.clear();
  Result<std::string> unit = RenderUnit(spec);
  ASSERT_TRUE(unit.ok());
  EXPECT_TRUE(LinesStartingWith(*unit, "User=").empty());
  EXPECT_TRUE(LinesStartingWith(*unit, "StandardOutput=").empty());
  EXPECT_TRUE(LinesStartingWith(*unit, "WorkingDirectory=").empty());
}

TEST(SystemdUnit, MapsRestartModes) {
  ServiceRunSpec spec = BasicSpec();
  const std::pair<RestartMode, const char*> cases[] = {{RestartMode::kNever, "Restart=no"},
                                                       {RestartMode::kOnFailure, "Restart=on-failure"},
                                                       {RestartMode::kAlways, "Restart=always"}};
  for (const auto& [mode, line] : cases) {
    spec.restart = mode;
    Result<std::string> unit = RenderUnit(spec);
    ASSERT_TRUE(unit.ok());
    EXPECT_EQ(LinesStartingWith(*unit, "Restart=").size(), 1u);
    EXPECT_EQ(LinesStartingWith(*unit, line).size(), 1u) << line;
  }
}

TEST(SystemdUnit, QuotesEveryArgumentSoItRoundTrips) {
  ServiceRunSpec spec = BasicSpec();
  spec.command.argv = {"/opt/app",     "two words",     R"(say "hi")",    R"(back\slash)",
                       R"(trailing\)", "$HOME",         "${PATH}",        "100%",
                       "%n",           ";",             "'single'",       "",
                       "\tTab",        "X\" ExecStartPre=\"/bin/evil"};
  Result<std::string> unit = RenderUnit(spec);
  ASSERT_TRUE(unit.ok()) << unit.status().message();
  std::vector<std::string> exec = LinesStartingWith(*unit, "ExecStart=");
  ASSERT_EQ(exec.size(), 1u);
  EXPECT_NE(exec[0].find(R"("$$HOME")"), std::string::npos) << exec[0];
  EXPECT_NE(exec[0].find(R"("100%%")"), std::string::npos) << exec[0];
  EXPECT_NE(exec[0].find(R"("back\\slash")"), std::string::npos) << exec[0];
  EXPECT_EQ(DecodeWords(exec[0].substr(std::string("ExecStart=").size())), spec.command.argv);
  EXPECT_TRUE(LinesStartingWith(*unit, "ExecStartPre").empty());
}

TEST(SystemdUnit, QuotesEnvironmentWithoutTouchingDollars) {
  ServiceRunSpec spec = BasicSpec();
  spec.command.env = {{"A", R"(x "y" $z 50% \)"}, {"EMPTY", ""}};
  Result<std::string> unit = RenderUnit(spec);
  ASSERT_TRUE(unit.ok()) << unit.status().message();
  std::vector<std::string> env = LinesStartingWith(*unit, "Environment=");
  ASSERT_EQ(env.size(), 2u);
  EXPECT_EQ(env[0], R"(Environment="A=x \"y\" $z 50%% \\")");
  EXPECT_EQ(env[1], R"(Environment="EMPTY=")");
}

TEST(SystemdUnit, RunsShellCommandsThroughBinSh) {
  ServiceRunSpec spec = BasicSpec();
  spec.command.shell = true;
  spec.command.argv = {"exec", "/opt/app", ">/dev/null"};
  Result<std::string> unit = RenderUnit(spec);
  ASSERT_TRUE(unit.ok());
  EXPECT_EQ(LinesStartingWith(*unit, "ExecStart=")[0],
            R"(ExecStart="/bin/sh" "-c" "exec /opt/app >/dev/null")");
}

TEST(SystemdUnit, EscapesSpecifiersInPathsAndVersion) {
  ServiceRunSpec spec = BasicSpec();
  spec.version = "2.0-%i";
  spec.command.working_dir = "/srv/100%";
  spec.log_file = "/var/log/%n.log";
  Result<std::string> unit = RenderUnit(spec);
  ASSERT_TRUE(unit.ok());
  EXPECT_EQ(LinesStartingWith(*unit, "WorkingDirectory=/srv/100%%").size(), 1u);
  EXPECT_EQ(LinesStartingWith(*unit, "StandardOutput=append:/var/log/%%n.log").size(), 1u);
  EXPECT_EQ(LinesStartingWith(*unit, "Description=Topos service pchat (version 2.0-%%i)").size(),
            1u);
  EXPECT_EQ(UnitVersion(*unit), "2.0-%i");
}

TEST(SystemdUnit, RefusesNewlinesAndNulEverywhere) {
  const std::string nul("a\0b", 3);
  std::vector<std::pair<std::string, ServiceRunSpec>> cases;
  auto add = [&](const std::string& what, auto mutate) {
    ServiceRunSpec spec = BasicSpec();
    mutate(spec);
    cases.emplace_back(what, spec);
  };
  add("argv newline", [](ServiceRunSpec& s) { s.command.argv.push_back("x\nExecStartPre=/bin/evil"); });
  add("argv0 newline", [](ServiceRunSpec& s) { s.command.argv[0] = "/bin/a\n"; });
  add("argv cr", [](ServiceRunSpec& s) { s.command.argv.push_back("x\r"); });
  add("argv nul", [&](ServiceRunSpec& s) { s.command.argv.push_back(nul); });
  add("env newline", [](ServiceRunSpec& s) { s.command.env = {{"A", "b\nUser=root"}}; });
  add("env nul", [&](ServiceRunSpec& s) { s.command.env = {{"A", nul}}; });
  add("version newline", [](ServiceRunSpec& s) { s.version = "1\n[Service]"; });
  add("working dir newline", [](ServiceRunSpec& s) { s.command.working_dir = "/srv\nUser=root"; });
  add("log newline", [](ServiceRunSpec& s) { s.log_file = "/var/log/x\nUser=root"; });
  for (const auto& [what, spec] : cases) {
    Result<std::string> unit = RenderUnit(spec);
    ASSERT_FALSE(unit.ok()) << what;
    EXPECT_EQ(unit.status().code(), Status::Code::kInvalidArgument) << what;
    EXPECT_NE(unit.status().message().find("pchat"), std::string::npos) << what;
  }
}

TEST(SystemdUnit, RefusesWhatSystemdWouldMisread) {
  std::vector<std::pair<std::string, ServiceRunSpec>> cases;
  auto add = [&](const std::string& what, auto mutate) {
    ServiceRunSpec spec = BasicSpec();
    mutate(spec);
    cases.emplace_back(what, spec);
  };
  add("empty argv", [](ServiceRunSpec& s) { s.command.argv.clear(); });
  add("empty program", [](ServiceRunSpec& s) { s.command.argv = {""}; });
  for (const char* prefix : {"-", "@", ":", "+", "!"}) {
    add(std::string("prefix ") + prefix,
        [prefix](ServiceRunSpec& s) { s.command.argv[0] = std::string(prefix) + "/bin/true"; });
  }
  add("lone semicolon", [](ServiceRunSpec& s) { s.command.argv[0] = ";"; });
  add("bad env name", [](ServiceRunSpec& s) { s.command.env = {{"A=B", "c"}}; });
  add("env name with space", [](ServiceRunSpec& s) { s.command.env = {{"A B", "c"}}; });
  add("empty env name", [](ServiceRunSpec& s) { s.command.env = {{"", "c"}}; });
  add("relative working dir", [](ServiceRunSpec& s) { s.command.working_dir = "srv"; });
  add("relative log", [](ServiceRunSpec& s) { s.log_file = "pchat.log"; });
  add("log ending in backslash", [](ServiceRunSpec& s) { s.log_file = "/var/log/x\\"; });
  add("bad name", [](ServiceRunSpec& s) { s.name = "../../etc/passwd"; });
  add("bad signal", [](ServiceRunSpec& s) { s.stop_signal = 0; });
  for (const auto& [what, spec] : cases) {
    Result<std::string> unit = RenderUnit(spec);
    ASSERT_FALSE(unit.ok()) << what;
    EXPECT_EQ(unit.status().code(), Status::Code::kInvalidArgument) << what;
  }
}

}  // namespace
}  // namespace topos::agent
