#include "examples/pchat-service/pchat_server.h"

// Debian's cpp-httplib is a compiled library built with OpenSSL support.
#define CPPHTTPLIB_OPENSSL_SUPPORT
#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

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

std::string ReadSmallFile(const std::filesystem::path& file, bool* ok) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  *ok = in.is_open() && text.str().size() <= 1024 * 1024;
  return text.str();
}

std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return std::string(": ") + text;
}

std::string SerialHex(const X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (bn == nullptr) return "";
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : bytes) {
    hex += kHex[c >> 4];
    hex += kHex[c & 0xf];
  }
  return hex.empty() ? "00" : hex;
}

}  // namespace

struct PchatServer::TlsCredentials {
  ~TlsCredentials() {
    X509_free(leaf);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
  }
  X509* leaf = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509)* chain = nullptr;  // the certificates after the leaf in cert_file
  std::string serial;
};

namespace {

using Credentials = PchatServer::TlsCredentials;

// Reads and checks a certificate (chain) and key; FailedPrecondition naming
// the file and the reason.
Result<std::shared_ptr<const Credentials>> LoadCredentials(const std::filesystem::path& cert_file,
                                                           const std::filesystem::path& key_file) {
  bool readable = false;
  std::string cert_pem = ReadSmallFile(cert_file, &readable);
  if (!readable) return Status::FailedPrecondition("cannot read TLS certificate " + cert_file.string());
  std::string key_pem = ReadSmallFile(key_file, &readable);
  if (!readable) return Status::FailedPrecondition("cannot read TLS key " + key_file.string());
  auto credentials = std::make_shared<Credentials>();
  ERR_clear_error();
  BIO* certs = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  credentials->leaf = certs != nullptr ? PEM_read_bio_X509(certs, nullptr, nullptr, nullptr) : nullptr;
  if (credentials->leaf == nullptr) {
    BIO_free(certs);
    return Status::FailedPrecondition("TLS certificate " + cert_file.string() +
                                      " holds no PEM certificate" + OpenSslError());
  }
  credentials->chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(certs, nullptr, nullptr, nullptr)) {
    sk_X509_push(credentials->chain, extra);
  }
  ERR_clear_error();  // the end of the bundle reads as an error
  BIO_free(certs);
  BIO* key = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  credentials->key = key != nullptr ? PEM_read_bio_PrivateKey(key, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(key);
  if (credentials->key == nullptr) {
    return Status::FailedPrecondition("TLS key " + key_file.string() + " holds no PEM private key" +
                                      OpenSslError());
  }
  if (X509_check_private_key(credentials->leaf, credentials->key) != 1) {
    ERR_clear_error();
    return Status::FailedPrecondition("TLS key " + key_file.string() +
                                      " does not match certificate " + cert_file.string());
  }
  credentials->serial = SerialHex(credentials->leaf);
  return std::shared_ptr<const Credentials>(std::move(credentials));
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
  TOPOS_RETURN_IF_ERROR(server->ReloadCertificate());
  // Every handshake takes the current pair (see SelectCertificate).
  SSL_CTX_set_cert_cb(server->server_->ssl_context(), &PchatServer::SelectCertificate, server.get());
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

Status PchatServer::ReloadCertificate() {
  auto loaded = LoadCredentials(options_.cert_file, options_.key_file);
  if (!loaded.ok()) return loaded.status();
  std::lock_guard<std::mutex> lock(tls_mu_);
  credentials_ = std::move(*loaded);
  return Status::Ok();
}

std::shared_ptr<const PchatServer::TlsCredentials> PchatServer::credentials() const {
  std::lock_guard<std::mutex> lock(tls_mu_);
  return credentials_;
}

std::string PchatServer::certificate_serial() const {
  auto current = credentials();
  return current ? current->serial : "";
}

int PchatServer::SelectCertificate(SSL* ssl, void* arg) {
  auto current = static_cast<PchatServer*>(arg)->credentials();
  if (!current) return 0;
  // Per connection: the SSL_CTX's own certificate stays as loaded at start.
  return SSL_use_cert_and_key(ssl, current->leaf, current->key, current->chain, 1) == 1 ? 1 : 0;
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
