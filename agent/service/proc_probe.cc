#include "agent/service/proc_probe.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace topos::agent {

std::optional<ProcStat> ParseProcStat(const std::string& text) {
  const std::size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  std::vector<std::string> tokens;  // tokens[0] is field 3
  std::string token;
  while (tokens.size() < 20 && fields >> token) tokens.push_back(token);
  if (tokens.size() < 20 || tokens[0].size() != 1) return std::nullopt;
  ProcStat stat;
  stat.state = tokens[0][0];
  char* end = nullptr;
  stat.pgrp = static_cast<pid_t>(std::strtol(tokens[2].c_str(), &end, 10));
  if (*end != '\0') return std::nullopt;
  stat.start_time = std::strtoull(tokens[19].c_str(), &end, 10);
  if (*end != '\0') return std::nullopt;
  return stat;
}

std::optional<ProcStat> ReadProcStat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ParseProcStat(text);
}

bool IsSameLiveProcess(pid_t pid, std::uint64_t start_time) {
  std::optional<ProcStat> stat = ReadProcStat(pid);
  return stat && stat->state != 'Z' && stat->state != 'X' && stat->start_time == start_time;
}

bool GroupHasLiveMembers(pid_t pgid) {
  if (pgid <= 0) return false;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::optional<ProcStat> stat = ReadProcStat(static_cast<pid_t>(std::atol(name.c_str())));
    if (stat && stat->pgrp == pgid && stat->state != 'Z' && stat->state != 'X') return true;
  }
  return false;
}

}  // namespace topos::agent
