// gRPC credentials and channel settings built from PEM material, in one
// place so that every connection in Topos gets the same TLS, keepalive and
// size limits.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <memory>
#include <string>

namespace topos {

// Largest message either side accepts. Every field that can be large has its
// own, smaller cap checked by the handler.
inline constexpr int kMaxMessageBytes = 4 << 20;
// Deadline for every unary call unless the caller has a reason for another.
inline constexpr std::chrono::seconds kDefaultCallTimeout{15};

struct TlsIdentity {
  std::string ca_bundle_pem;    // whom to trust
  std::string certificate_pem;  // who we are
  std::string private_key_pem;  // never sent anywhere
};

// Server side: TLS with a client certificate requested and, when present,
// verified against the CA. Calls that need mutual TLS check for a verified
// peer in the handler (see controller/api/caller.h), because enrollment
// must work before the agent has a certificate.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsIdentity& identity);

// Where a server's TLS comes from when it must change while serving (a CA
// rotation replaces the trust bundle and the server certificate).
struct ServerTlsFiles {
  std::string private_key_path;  // PEM; replace it before the certificate
  std::string certificate_path;  // PEM, must match the key
  std::string ca_bundle_path;    // every CA whose client certificates are verified
  unsigned refresh_seconds = 1;  // how often the files are re-read
};

// Like MakeServerCredentials, from files that are re-read every
// refresh_seconds: new connections use what the files hold then (existing
// connections keep theirs). Files are replaced atomically (rename); the key
// is written before the certificate, so a pair seen half-replaced lasts at
// most one refresh. The files must exist and be readable when called.
std::shared_ptr<grpc::ServerCredentials> MakeReloadingServerCredentials(
    const ServerTlsFiles& files);

// Applies keepalive and message size limits to a server.
void ApplyServerSettings(grpc::ServerBuilder& builder);

// Mutual TLS: verifies the server against identity.ca_bundle_pem and
// presents identity's certificate.
std::shared_ptr<grpc::ChannelCredentials> MakeMutualTlsCredentials(const TlsIdentity& identity);

// TLS that verifies the server against `ca_bundle_pem` without presenting a
// client certificate (enrollment).
std::shared_ptr<grpc::ChannelCredentials> MakeServerOnlyTlsCredentials(
    const std::string& ca_bundle_pem);

// TLS that does not verify the server at all. Only for fetching the CA
// bundle, whose SHA-256 the caller then checks against a pinned value.
std::shared_ptr<grpc::ChannelCredentials> MakeUnverifiedTlsCredentials();

// A channel with Topos' keepalive and limits. `private_connection` stops
// gRPC from sharing one TCP connection between channels with the same
// target (needed when one process simulates many agents).
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           std::shared_ptr<grpc::ChannelCredentials> credentials,
                                           bool private_connection = false);

}  // namespace topos
