#include "common/grpc_tls.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/support/channel_arguments.h>
#include <spdlog/spdlog.h>

#include "certs/tls_session_tickets.h"

namespace topos {

namespace {
constexpr int kClientKeepaliveMs = 120'000;
constexpr int kServerKeepaliveMs = 300'000;
constexpr int kKeepaliveTimeoutMs = 20'000;
// As long as the server's default handshake timeout (GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS).
constexpr int kClientConnectTimeoutMs = 120'000;
}  // namespace

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsIdentity& identity) {
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = identity.ca_bundle_pem;
  options.pem_key_cert_pairs.push_back({identity.private_key_pem, identity.certificate_pem});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ServerCredentials> MakeReloadingServerCredentials(
    const ServerTlsFiles& files) {
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.private_key_path, files.certificate_path, files.ca_bundle_path,
      files.refresh_seconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  // Requested and verified when sent, but optional: enrollment has none.
  options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  return grpc::experimental::TlsServerCredentials(options);
}

void ApplyServerSettings(grpc::ServerBuilder& builder) {
  // Before the server makes its TLS contexts (see certs/tls_session_tickets.h).
  auto tickets = certs::DisableTlsSessionTickets();
  if (!tickets.ok()) {
    spdlog::warn("TLS session tickets stay on: {}", tickets.status().message());
  } else if (*tickets == certs::TicketPolicy::kLeftToSystemTls) {
    spdlog::info("TLS session tickets as the system's OpenSSL ssl_conf says");
  }
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  // Ping idle agents so the streams of dead hosts (power loss, NAT drop) end.
  // Rarely: each ping and its answer wake the controller once per agent, and
  // holding thousands of idle agents it did little else. A dead host shows
  // as offline after three missed heartbeats whatever this is, and anything
  // the controller sends it ends the stream within the timeout (gRPC sets
  // TCP_USER_TIMEOUT to it whenever keepalive is on).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kServerKeepaliveMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Agents ping every 2 minutes; allow more often without calling it abuse.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // gRPC answers data received with a bandwidth-probe ping, so every agent
  // heartbeat cost a ping and its answer.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  // Without the probe the receive window no longer grows, so start it at one
  // whole message: an artifact pushed over a long link is not held to 64 KiB
  // per round trip. It is a limit, not a buffer: nothing is allocated for it.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, kMaxMessageBytes);
}

std::shared_ptr<grpc::ChannelCredentials> MakeMutualTlsCredentials(const TlsIdentity& identity) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = identity.ca_bundle_pem;
  options.pem_private_key = identity.private_key_pem;
  options.pem_cert_chain = identity.certificate_pem;
  return grpc::SslCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeServerOnlyTlsCredentials(
    const std::string& ca_bundle_pem) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_bundle_pem;
  return grpc::SslCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeUnverifiedTlsCredentials() {
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_verify_server_certs(false);
  options.set_check_call_host(false);
  options.set_certificate_verifier(
      std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  return grpc::experimental::TlsCredentials(options);
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           std::shared_ptr<grpc::ChannelCredentials> credentials,
                                           bool private_connection) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  // An agent notices a dead controller host without pings: its next
  // heartbeat goes unacknowledged, and TCP_USER_TIMEOUT (which gRPC sets to
  // the keepalive timeout) ends the connection. The ping adds only a hung
  // controller process, so it can be rare.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kClientKeepaliveMs);
  // As long as the server's: a controller busy with a reconnect storm answers
  // pings late, and dropping streams it is about to serve feeds the storm.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Our own back-off (with jitter) decides when to retry; keep gRPC's short.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  // gRPC gives a connection attempt (TCP, TLS and HTTP/2 set-up) at least
  // this long; its default, 20 s, is shorter than a controller's queue of
  // handshakes in a reconnect storm. A client that gives up has cost the
  // controller its half-done handshake, and its retry adds another: the
  // storm feeds itself. A controller that is down still refuses at once;
  // only an unreachable host now takes this long to give up on.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kClientConnectTimeoutMs);
  if (private_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, credentials, args);
}

}  // namespace topos
