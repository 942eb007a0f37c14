// TLS 1.3 session tickets, which the controller's servers do not issue.
//
// OpenSSL 3.0 sends every TLS 1.3 client two tickets after the handshake,
// and building each re-decodes the session with the client's certificate
// (a public-key decoder per ticket): 14% of the controller's CPU in a
// reconnect storm. gRPC 1.51's clients never resume a session, so the
// tickets are work and bytes for nothing, and gRPC offers no way to set the
// server's ticket count. OpenSSL applies the "system_default" section of
// its ssl_conf module to every SSL_CTX a process creates, so this sets
// NumTickets = 0 there.
//
// An ssl_conf already configured for the process (the system's
// openssl.cnf, or OPENSSL_CONF) is the administrator's TLS policy and is
// left whole: tickets then stay as it says.
//
// Thread-safety: safe from any thread; the work is done once per process,
// and must be before the servers create their TLS contexts.
#pragma once

#include "common/status.h"

namespace topos::certs {

enum class TicketPolicy {
  kDisabled,         // servers created from now on issue no tickets
  kLeftToSystemTls,  // the process's OpenSSL configuration has an ssl_conf
};

// Applies the setting once per process and returns what it found.
Result<TicketPolicy> DisableTlsSessionTickets();

}  // namespace topos::certs
