// The controller issues no TLS 1.3 session tickets: gRPC clients never
// resume, and each ticket cost the controller a decode of the client's
// certificate (certs/tls_session_tickets.h). Checked from outside, with the
// openssl tool, as an operator would.
#include <string>

#include "tests/certs/test_util.h"
#include "tests/integration/fleet_fixture.h"

namespace topos::testing {
namespace {

TEST_F(FleetTest, ControllerSendsNoTlsSessionTickets) {
  const auto admin = data_dir_ / "admin";
  // stdin stays open for a second, so s_client reads what the server sends
  // after the handshake (tickets would arrive then).
  const std::string command =
      "(sleep 1; echo) | timeout 20 openssl s_client -connect " + address() +
      " -alpn h2 -msg -cert '" + (admin / "cert.pem").string() + "' -key '" +
      (admin / "key.pem").string() + "' -CAfile '" + (admin / "ca.pem").string() + "'";
  const std::string output = certs::testing::RunCommand(command).output;
  // The handshake itself worked, over TLS 1.3, with our client certificate.
  ASSERT_NE(output.find("Verification: OK"), std::string::npos) << output;
  ASSERT_NE(output.find("TLSv1.3"), std::string::npos) << output;
  ASSERT_NE(output.find("CertificateVerify"), std::string::npos) << output;
  EXPECT_EQ(output.find("NewSessionTicket"), std::string::npos) << output;
}

}  // namespace
}  // namespace topos::testing
