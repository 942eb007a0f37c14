#include "common/signal_names.h"

#include <array>
#include <csignal>

namespace topos {
namespace {

struct NamedSignal {
  const char* name;  // without the "SIG" prefix
  int number;
};

constexpr std::array<NamedSignal, 7> kSignals = {{
    {"TERM", SIGTERM},
    {"INT", SIGINT},
    {"QUIT", SIGQUIT},
    {"HUP", SIGHUP},
    {"USR1", SIGUSR1},
    {"USR2", SIGUSR2},
    {"KILL", SIGKILL},
}};

std::string ToUpper(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return text;
}

}  // namespace

Result<int> ParseSignalName(const std::string& name) {
  std::string upper = ToUpper(name);
  if (upper.rfind("SIG", 0) == 0) upper = upper.substr(3);
  for (const NamedSignal& signal : kSignals) {
    if (upper == signal.name) return signal.number;
  }
  std::string accepted;
  for (const NamedSignal& signal : kSignals) {
    if (!accepted.empty()) accepted += ", ";
    accepted += signal.name;
  }
  return Status::InvalidArgument("unknown signal \"" + name + "\" (accepted, with or without SIG: " +
                                 accepted + ")");
}

std::string SignalName(int signal) {
  for (const NamedSignal& named : kSignals) {
    if (named.number == signal) return std::string("SIG") + named.name;
  }
  return std::to_string(signal);
}

}  // namespace topos
