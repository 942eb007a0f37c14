// toposctl artifact push|list: upload service tarballs to the controller's
// artifact repository and see what is there.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "certs/crypto.h"
#include "controller/cli/commands.h"
#include "controller/cli/table.h"

namespace topos::cli {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kChunkBytes = 1 << 20;

std::string FormatSize(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f %s", value, units[unit]);
  return buffer;
}

// Opens `path` for reading, with an error naming the file and the reason.
Result<std::unique_ptr<std::ifstream>> OpenFile(const fs::path& path) {
  std::error_code error;
  auto status = fs::status(path, error);
  if (error || !fs::exists(status)) {
    return Status::NotFound("cannot push " + path.string() + ": no such file");
  }
  if (!fs::is_regular_file(status)) {
    return Status::InvalidArgument("cannot push " + path.string() + ": not a regular file");
  }
  auto in = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!*in) {
    return Status::PermissionDenied("cannot push " + path.string() + ": cannot read it (" +
                                    std::strerror(errno) + ")");
  }
  return in;
}

// SHA-256 and size of the file, read once before anything is sent so the
// controller can check what it receives.
Status HashFile(const fs::path& path, std::string* sha256, std::uint64_t* size) {
  auto in = OpenFile(path);
  if (!in.ok()) return in.status();
  certs::Sha256Hasher hasher;
  std::string buffer(kChunkBytes, '\0');
  *size = 0;
  while (**in) {
    (*in)->read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    std::streamsize got = (*in)->gcount();
    if (got <= 0) break;
    hasher.Update(std::string_view(buffer.data(), static_cast<std::size_t>(got)));
    *size += static_cast<std::uint64_t>(got);
  }
  if ((*in)->bad()) return Status::Internal("cannot push " + path.string() + ": read error");
  *sha256 = hasher.FinishHex();
  return Status::Ok();
}

int Push(const ConnectionOptions& connection, const std::string& file, const std::string& service,
         const std::string& version) {
  const fs::path path(file);
  std::string sha256;
  std::uint64_t size = 0;
  if (Status hashed = HashFile(path, &sha256, &size); !hashed.ok()) return Fail(hashed);
  if (size == 0) return Fail(Status::InvalidArgument("cannot push " + file + ": the file is empty"));
  auto in = OpenFile(path);
  if (!in.ok()) return Fail(in.status());

  auto client = AdminClient::Connect(connection);
  if (!client.ok()) return Fail(client.status());
  grpc::ClientContext context;
  // Generous for big tarballs on slow links: 5 minutes plus 1 s per MiB.
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5) +
                       std::chrono::seconds(size >> 20));
  topos::v1::PushArtifactResponse response;
  auto writer = client->stub().PushArtifact(&context, &response);

  topos::v1::PushArtifactChunk header;
  auto* info = header.mutable_header();
  info->set_service(service);
  info->set_version(version);
  info->set_sha256(sha256);
  info->set_size(size);
  info->set_file_name(path.filename().string());
  bool open = writer->Write(header);
  std::string buffer(kChunkBytes, '\0');
  std::uint64_t sent = 0;
  while (open && sent < size) {
    (*in)->read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    std::streamsize got = (*in)->gcount();
    if (got <= 0) break;  // the file shrank; the controller reports the size mismatch
    topos::v1::PushArtifactChunk chunk;
    chunk.set_data(buffer.data(), static_cast<std::size_t>(got));
    open = writer->Write(chunk);
    sent += static_cast<std::uint64_t>(got);
  }
  // A false Write means the controller already ended the call; Finish says why.
  if (open) writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return Fail(client->Explain(status));
  const auto& artifact = response.artifact();
  std::cout << (response.already_present() ? "Already present: " : "Pushed: ")
            << artifact.service() << " " << artifact.version() << "\n"
            << "  sha256: " << artifact.sha256() << "\n"
            << "  size:   " << artifact.size() << " bytes (" << FormatSize(artifact.size())
            << ")\n";
  if (response.already_present()) {
    std::cout << "  (pushed earlier by " << artifact.pushed_by() << " at "
              << FormatUnixTime(artifact.pushed_at_unix()) << ")\n";
  }
  return 0;
}

int List(const ConnectionOptions& connection, const std::string& service,
         const std::string& output) {
  topos::v1::ListArtifactsRequest request;
  request.set_service(service);
  topos::v1::ListArtifactsResponse response;
  if (!CallAdmin(connection, &topos::v1::AdminService::Stub::ListArtifacts, request, &response)) {
    return 1;
  }
  if (output == "json") {
    std::cout << ToJson(response) << "\n";
    return 0;
  }
  Table table({"SERVICE", "VERSION", "SHA256", "SIZE", "FILE", "PUSHED", "BY"});
  for (const auto& artifact : response.artifacts()) {
    table.Add({artifact.service(), artifact.version(), artifact.sha256(),
               FormatSize(artifact.size()), artifact.file_name().empty() ? "-" : artifact.file_name(),
               FormatUnixTime(artifact.pushed_at_unix()), artifact.pushed_by()});
  }
  table.Print(std::cout);
  if (response.artifacts().empty()) {
    std::cout << "(no artifacts" << (service.empty() ? "" : " for " + service)
              << " yet: push one with `toposctl artifact push FILE --service NAME --version V`)\n";
  }
  return 0;
}

}  // namespace

void RegisterArtifactCommands(CLI::App& app, ConnectionOptions& connection, Action& action) {
  auto* artifact = app.add_subcommand("artifact", "Push and list service artifacts (tarballs)");
  artifact->require_subcommand(1);
  artifact->fallthrough();

  struct PushOptions {
    std::string file, service, version;
  };
  auto push_options = std::make_shared<PushOptions>();
  auto* push = artifact->add_subcommand(
      "push", "Upload a tarball for a service version; its SHA-256 is checked end to end");
  push->add_option("FILE", push_options->file, "The tarball")->required();
  push->add_option("--service", push_options->service, "The service it installs")->required();
  push->add_option("--version", push_options->version, "The version it holds")->required();
  push->callback([&, push_options] {
    action = [&, push_options] {
      return Push(connection, push_options->file, push_options->service, push_options->version);
    };
  });

  auto list_service = std::make_shared<std::string>();
  auto list_output = std::make_shared<std::string>("table");
  auto* list = artifact->add_subcommand("list", "List pushed artifacts");
  list->add_option("--service", *list_service, "Only this service's artifacts");
  list->add_option("--output", *list_output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  list->callback([&, list_service, list_output] {
    action = [&, list_service, list_output] {
      return List(connection, *list_service, *list_output);
    };
  });
}

}  // namespace topos::cli
