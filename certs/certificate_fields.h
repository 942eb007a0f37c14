// The fields that say whose a certificate is (subject CN and OU, serial,
// end of validity), read without decoding its public key.
//
// OpenSSL 3 decodes the public key of every certificate it parses through
// its provider decoders, building a decoder context each time: most of the
// cost of a parse. Where the key is not needed, because the TLS layer has
// already verified the certificate (a caller's client certificate), this
// reads the same DER with a template that keeps the key as opaque bytes.
//
// Thread-safety: a free function over its argument.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace topos::certs {

struct CertificateFields {
  std::string common_name;          // as Certificate::common_name()
  std::string organizational_unit;  // as Certificate::organizational_unit()
  std::string serial_hex;           // as Certificate::serial_hex()
  std::chrono::system_clock::time_point not_after;
};

// The fields of the one certificate in `pem`. InvalidArgument naming what is
// wrong for anything else (not PEM, another PEM type, several blocks, DER
// that is not a certificate). Checks nothing about trust: only for
// certificates verified elsewhere.
Result<CertificateFields> ReadCertificateFields(std::string_view pem);

}  // namespace topos::certs
