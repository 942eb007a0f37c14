// toposctl: the operator's command line for a Topos controller.
#include <google/protobuf/util/json_util.h>

#include <ctime>
#include <iostream>

#include "common/grpc_runtime.h"
#include "common/text.h"
#include "controller/cli/commands.h"

namespace topos::cli {

int Fail(const Status& status) {
  std::cerr << "toposctl: " << status.message() << "\n";
  return 1;
}

std::string FormatUnixTime(std::int64_t unix_seconds) {
  return unix_seconds == 0 ? "-" : FormatUnixUtc(unix_seconds);
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  while (!json.empty() && json.back() == '\n') json.pop_back();
  return json;
}

}  // namespace topos::cli

int main(int argc, char** argv) {
  topos::TuneGrpcRuntime();
  CLI::App app{"toposctl: operate a Topos controller.\n"
               "Finds the controller with --controller or TOPOS_CONTROLLER (default "
               "localhost:7443)\nand your operator credentials with --creds or TOPOS_CREDS "
               "(a directory with ca.pem, cert.pem, key.pem)."};
  app.require_subcommand(1);
  app.fallthrough();
  topos::cli::ConnectionOptions connection;
  app.add_option("--controller", connection.controller, "Controller HOST:PORT");
  app.add_option("--creds", connection.creds_dir, "Operator credential directory");
  topos::cli::Action action;
  topos::cli::RegisterTokenCommands(app, connection, action);
  topos::cli::RegisterHostCommands(app, connection, action);
  topos::cli::RegisterTopologyCommands(app, connection, action);
  topos::cli::RegisterReplicationCommands(app, connection, action);
  topos::cli::RegisterArtifactCommands(app, connection, action);
  topos::cli::RegisterDeployCommands(app, connection, action);
  topos::cli::RegisterRolloutCommands(app, connection, action);
  topos::cli::RegisterCertificateCommands(app, connection, action);
  topos::cli::RegisterCaCommands(app, connection, action);
  topos::cli::AddCertificateRolloutCommands(*app.get_subcommand("certs"), connection, action);
  CLI11_PARSE(app, argc, argv);
  return action ? action() : 1;
}
