// toposctl's command groups. Each Register* adds its subcommands to the app
// and returns; the chosen command runs after parsing and returns an exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

#include "controller/cli/admin_client.h"

namespace topos::cli {

// The command to run once parsing is done.
using Action = std::function<int()>;

void RegisterTokenCommands(CLI::App& app, ConnectionOptions& connection, Action& action);
void RegisterHostCommands(CLI::App& app, ConnectionOptions& connection, Action& action);
void RegisterTopologyCommands(CLI::App& app, Action& action);

// Prints "toposctl: <message>" to stderr and returns 1.
int Fail(const Status& status);
// Formats a unix time as 2026-11-25T10:00:00Z.
std::string FormatUnixTime(std::int64_t unix_seconds);
// Protobuf message as indented JSON with the proto field names.
std::string ToJson(const google::protobuf::Message& message);

}  // namespace topos::cli
