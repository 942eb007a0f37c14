#include "tests/integration/deploy_test_support.h"

#include <archive.h>
#include <archive_entry.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace topos::testing {
namespace fs = std::filesystem;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

namespace {

la_ssize_t AppendTo(archive*, void* out, const void* buffer, size_t length) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

// A YAML double-quoted scalar (the strings here are plain ASCII).
std::string Quote(const std::string& text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

std::string FlowList(const std::vector<std::string>& items) {
  std::string list = "[";
  for (std::size_t i = 0; i < items.size(); ++i) list += (i ? ", " : "") + Quote(items[i]);
  return list + "]";
}

std::string FirstLabel(const std::string& fqdn) { return fqdn.substr(0, fqdn.find('.')); }

}  // namespace

std::string MakeTarGz(const std::vector<TarEntry>& entries) {
  std::string bytes;
  archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  EXPECT_EQ(archive_write_open(a, &bytes, nullptr, AppendTo, nullptr), ARCHIVE_OK)
      << archive_error_string(a);
  for (const TarEntry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    archive_entry_set_mtime(entry, 1700000000, 0);
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, static_cast<mode_t>(e.perm));
    archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()));
    EXPECT_GE(archive_write_header(a, entry), ARCHIVE_WARN) << archive_error_string(a);
    if (!e.data.empty()) {
      EXPECT_EQ(archive_write_data(a, e.data.data(), e.data.size()),
                static_cast<la_ssize_t>(e.data.size()));
    }
    archive_entry_free(entry);
  }
  EXPECT_EQ(archive_write_close(a), ARCHIVE_OK) << archive_error_string(a);
  archive_write_free(a);
  return bytes;
}

std::string PoolFqdnOf(const std::string& host) { return FirstLabel(host) + ".pool.contoso.test"; }

std::string PchatRolesYaml(std::size_t hosts) {
  std::string yaml = "roles:\n";
  for (std::size_t i = 1; i <= hosts; ++i) {
    yaml += "  - name: pchat-" + std::to_string(i) + "\n    description: topos-pchat test host " +
            std::to_string(i) + "\n";
  }
  return yaml;
}

std::string PchatTopologyYaml(const std::vector<PchatHost>& hosts, const PchatService& service) {
  std::string yaml = "sites:\n  - name: lab\n\nhosts:\n";
  for (const auto& host : hosts) yaml += "  - fqdn: " + host.fqdn + "\n";
  yaml += "\npools:\n";
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    yaml += "  - name: " + FirstLabel(hosts[i].fqdn) + "\n    fqdn: " + PoolFqdnOf(hosts[i].fqdn) +
            "\n    role: pchat-" + std::to_string(i + 1) + "\n    site: lab\n    hosts: [" +
            hosts[i].fqdn + "]\n";
  }
  yaml += "\nservices:\n";
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const std::string port = std::to_string(hosts[i].port);
    yaml += "  - name: topos-pchat\n"
            "    role: pchat-" + std::to_string(i + 1) + "\n"
            "    version: " + Quote(service.version) + "\n"
            "    artifact: " + service.artifact + "\n"
            "    prerequisites:\n"
            "      executables: [sh]\n"
            "      ports: [" + port + "]\n";
    if (!service.install_hook.empty()) {
      yaml += "    install_hook:\n      argv: " + FlowList(service.install_hook) +
              "\n      timeout_seconds: 20\n";
    }
    yaml += "    start:\n      argv: [bin/topos-pchat]\n"
            "    env:\n      - name: TOPOS_PCHAT_PORT\n        value: \"" + port + "\"\n"
            "    stop_timeout_seconds: 5\n"
            "    restart:\n      policy: on-failure\n      max_restarts: 2\n"
            "    health_check:\n      tcp_port: " + port + "\n      timeout_seconds: " +
            std::to_string(service.health_timeout_seconds) + "\n"
            "    certificate:\n";
    if (!service.extra_names.empty()) yaml += "      names: " + FlowList(service.extra_names) + "\n";
    yaml += "      cert_file: tls/cert.pem\n      key_file: tls/key.pem\n";
  }
  return yaml;
}

bool HaveCurl() { return std::system("curl --version >/dev/null 2>&1") == 0; }

HttpsAnswer CurlHttps(const fs::path& ca_file, const std::string& name, int port,
                      const std::string& path) {
  const std::string target = name + ":" + std::to_string(port);
  const std::string command = "curl -sS --max-time 5 --cacert '" + ca_file.string() + "' --resolve '" +
                              target + ":127.0.0.1' 'https://" + target + path + "' 2>&1";
  HttpsAnswer answer;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return answer;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) answer.body.append(buffer, n);
  int status = pclose(pipe);
  answer.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return answer;
}

std::vector<topos::v1::JournalEntry> ReadJournal(const fs::path& state_dir) {
  std::vector<topos::v1::JournalEntry> entries;
  std::error_code error;
  for (const auto& file : fs::directory_iterator(state_dir / "store" / "journal", error)) {
    if (file.path().extension() != ".pb") continue;
    std::ifstream in(file.path(), std::ios::binary);
    topos::v1::JournalEntry entry;
    if (entry.ParseFromIstream(&in)) entries.push_back(std::move(entry));
  }
  return entries;
}

std::optional<topos::v1::StepUpdate> DeployOutcome::Final(topos::v1::StepKind kind) const {
  for (const auto& update : Finals()) {
    if (update.kind() == kind) return update;
  }
  return std::nullopt;
}

std::vector<topos::v1::StepUpdate> DeployOutcome::Finals() const {
  std::vector<topos::v1::StepUpdate> finals;
  for (const auto& event : events) {
    if (!event.has_update()) continue;
    auto state = event.update().state();
    if (state != topos::v1::STEP_RUNNING && state != topos::v1::STEP_STATE_UNSPECIFIED) {
      finals.push_back(event.update());
    }
  }
  return finals;
}

std::vector<topos::v1::RunStep> DeployOutcome::Steps() const {
  std::vector<topos::v1::RunStep> steps;
  for (const auto& event : events) {
    if (event.has_step() && !event.has_update()) steps.push_back(event.step());
  }
  return steps;
}

std::string DeployOutcome::Transcript() const {
  std::ostringstream out;
  out << "status " << status.error_code() << " " << status.error_message() << "\n";
  for (const auto& event : events) {
    out << "  " << event.message();
    if (event.has_update()) {
      const auto& update = event.update();
      out << " [" << topos::v1::StepKind_Name(update.kind()) << " "
          << topos::v1::StepState_Name(update.state()) << "] " << update.result().summary() << " "
          << update.result().error();
    }
    if (event.done()) out << " (done ok=" << event.ok() << ")";
    out << "\n";
  }
  return out.str();
}

DeployOutcome RunDeploy(topos::v1::AdminService::Stub& stub, const topos::v1::DeployRequest& request,
                        std::chrono::seconds deadline) {
  DeployOutcome outcome;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  auto reader = stub.Deploy(&context, request);
  topos::v1::DeployEvent event;
  while (reader->Read(&event)) {
    outcome.events.push_back(event);
    if (event.done()) {
      outcome.done = true;
      outcome.ok = event.ok();
    }
    outcome.message = event.message();
  }
  outcome.status = reader->Finish();
  return outcome;
}

}  // namespace topos::testing
