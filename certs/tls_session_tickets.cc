#include "certs/tls_session_tickets.h"

#include <openssl/bio.h>
#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <memory>
#include <mutex>

namespace topos::certs {
namespace {

constexpr char kNoTicketsConfig[] =
    "openssl_conf = topos_openssl_init\n"
    "[topos_openssl_init]\n"
    "ssl_conf = topos_ssl_conf\n"
    "[topos_ssl_conf]\n"
    "system_default = topos_tls_defaults\n"
    "[topos_tls_defaults]\n"
    "NumTickets = 0\n";

struct ConfFree {
  void operator()(CONF* conf) const { NCONF_free(conf); }
};
using ConfPtr = std::unique_ptr<CONF, ConfFree>;

// True if the configuration file OpenSSL loads for this process names an
// ssl_conf section in its initialisation section.
bool ProcessConfigHasSslConf() {
  char* file = CONF_get1_default_config_file();
  if (file == nullptr) return false;
  ConfPtr conf(NCONF_new(nullptr));
  long error_line = 0;
  bool loaded = conf && NCONF_load(conf.get(), file, &error_line) > 0;
  OPENSSL_free(file);
  bool has_ssl_conf = false;
  if (loaded) {
    const char* init = NCONF_get_string(conf.get(), nullptr, "openssl_conf");
    has_ssl_conf = init != nullptr && NCONF_get_string(conf.get(), init, "ssl_conf") != nullptr;
  }
  ERR_clear_error();  // a missing file or key is an answer, not an error
  return has_ssl_conf;
}

Result<TicketPolicy> Apply() {
  // Load the process's configuration first, so that a later implicit load
  // cannot replace what we set.
  if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, nullptr) != 1) {
    ERR_clear_error();
    return Status::Internal("OpenSSL could not be initialised");
  }
  if (ProcessConfigHasSslConf()) return TicketPolicy::kLeftToSystemTls;
  ConfPtr conf(NCONF_new(nullptr));
  std::unique_ptr<BIO, decltype(&BIO_free)> text(
      BIO_new_mem_buf(kNoTicketsConfig, sizeof(kNoTicketsConfig) - 1), &BIO_free);
  long error_line = 0;
  if (!conf || !text || NCONF_load_bio(conf.get(), text.get(), &error_line) <= 0 ||
      CONF_modules_load(conf.get(), nullptr, 0) <= 0) {
    ERR_clear_error();
    return Status::Internal("OpenSSL refused the setting NumTickets = 0");
  }
  return TicketPolicy::kDisabled;
}

}  // namespace

Result<TicketPolicy> DisableTlsSessionTickets() {
  static std::once_flag once;
  static Result<TicketPolicy> result = Status::Internal("not applied");
  std::call_once(once, [] { result = Apply(); });
  return result;
}

}  // namespace topos::certs
