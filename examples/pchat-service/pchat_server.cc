#include "examples/pchat-service/pchat_server.h"

// Debian's cpp-httplib is a compiled library built with OpenSSL support.
#define CPPHTTPLIB_OPENSSL_SUPPORT
#include <google/protobuf/util/json_util.h>
#include <httplib.h>

#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

namespace topos::pchat {
namespace {

constexpr std::size_t kMaxSnapshotBytes = 64 * 1024 * 1024;

Status CheckReadable(const std::filesystem::path& file, const std::string& what) {
  std::ifstream in(file);
  if (!in) return Status::FailedPrecondition("cannot read " + what + " " + file.string());
  return Status::Ok();
}

}  // namespace

Result<topos::v1::HostConfig> LoadSnapshot(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    return Status::NotFound("store snapshot " + file.string() + " does not exist");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read store snapshot " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxSnapshotBytes) {
    return Status::InvalidArgument("store snapshot " + file.string() + " is larger than 64 MiB");
  }
  topos::v1::HostConfig config;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // a newer agent may add fields
  auto status = google::protobuf::util::JsonStringToMessage(text.str(), &config, options);
  if (!status.ok()) {
    return Status::InvalidArgument("store snapshot " + file.string() +
                                   " is not a HostConfig: " + std::string(status.message()));
  }
  return config;
}

Result<std::unique_ptr<PchatServer>> PchatServer::Create(const PchatOptions& options) {
  TOPOS_RETURN_IF_ERROR(CheckReadable(options.cert_file, "TLS certificate"));
  TOPOS_RETURN_IF_ERROR(CheckReadable(options.key_file, "TLS key"));
  auto ssl = std::make_unique<httplib::SSLServer>(options.cert_file.c_str(),
                                                  options.key_file.c_str());
  if (!ssl->is_valid()) {
    return Status::FailedPrecondition("cannot use TLS certificate " + options.cert_file.string() +
                                      " with key " + options.key_file.string() +
                                      " (not PEM, or the key does not match)");
  }
  std::unique_ptr<PchatServer> server(new PchatServer(options, std::move(ssl)));
  if (!options.snapshot_file.empty()) {
    Status loaded = server->ReloadSnapshot();
    if (!loaded.ok() && loaded.code() != Status::Code::kNotFound) return loaded;
  }
  server->InstallRoutes();
  // httplib's default also sets SO_REUSEPORT, which would let a second
  // instance share the port silently; a running pchat must own it.
  server->server_->set_socket_options([](int sock) {
    int one = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
  if (options.port < 0 || options.port > 65535) {
    return Status::InvalidArgument("port " + std::to_string(options.port) + " is out of range");
  }
  if (options.port == 0) {
    server->port_ = server->server_->bind_to_any_port(options.listen_address);
  } else if (server->server_->bind_to_port(options.listen_address, options.port)) {
    server->port_ = options.port;
  }
  if (server->port_ <= 0) {
    return Status::Unavailable("cannot listen on " + options.listen_address + ":" +
                               std::to_string(options.port) + " (in use, or not a local address)");
  }
  return server;
}

PchatServer::PchatServer(PchatOptions options, std::unique_ptr<httplib::SSLServer> server)
    : options_(std::move(options)), server_(std::move(server)) {}

PchatServer::~PchatServer() { Stop(); }

std::uint64_t PchatServer::config_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return has_snapshot_ ? snapshot_.version() : 0;
}

std::string PchatServer::host_fqdn() const {
  std::lock_guard<std::mutex> lock(mu_);
  return has_snapshot_ ? snapshot_.host_fqdn() : "";
}

Status PchatServer::ReloadSnapshot() {
  if (options_.snapshot_file.empty()) return Status::NotFound("no store snapshot configured");
  Result<topos::v1::HostConfig> config = LoadSnapshot(options_.snapshot_file);
  if (!config.ok()) return config.status();
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(*config);
  has_snapshot_ = true;
  return Status::Ok();
}

void PchatServer::InstallRoutes() {
  server_->Get("/", [this](const httplib::Request&, httplib::Response& res) {
    std::string fqdn = host_fqdn();
    res.set_content("Hello from pchat on " + (fqdn.empty() ? std::string("an unconfigured host") : fqdn) +
                        "\n",
                    "text/plain");
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok version " + std::to_string(config_version()) + "\n", "text/plain");
  });
  server_->Get("/settings", [this](const httplib::Request&, httplib::Response& res) {
    topos::v1::HostConfig view;  // only what /settings shows, printed by protobuf
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!has_snapshot_) {
        res.status = 404;
        res.set_content("no store snapshot (TOPOS_STORE_SNAPSHOT)\n", "text/plain");
        return;
      }
      view.set_version(snapshot_.version());
      view.set_host_fqdn(snapshot_.host_fqdn());
      *view.mutable_settings() = snapshot_.settings();
    }
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    std::string json;
    if (!google::protobuf::util::MessageToJsonString(view, &json, options).ok()) {
      res.status = 500;
      return;
    }
    res.set_content(json + "\n", "application/json");
  });
}

Status PchatServer::Serve() {
  serving_ = true;
  if (stop_requested_) {
    serving_ = false;
    return Status::Ok();
  }
  bool clean = server_->listen_after_bind();
  serving_ = false;
  if (stop_requested_ || clean) return Status::Ok();
  return Status::Internal("the accept loop on port " + std::to_string(port_) + " failed");
}

void PchatServer::Stop() {
  stop_requested_ = true;
  // httplib's stop() is a no-op until the accept loop runs: repeat until
  // Serve() has returned.
  while (serving_) {
    server_->stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool PchatServer::running() const { return server_->is_running(); }

}  // namespace topos::pchat
