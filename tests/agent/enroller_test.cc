#include "agent/link/enroller.h"

#include <gtest/gtest.h>

namespace topos::agent {
namespace {

TEST(NormalizeFingerprint, AcceptsColonsAndUpperCase) {
  std::string hex(64, 'a');
  std::string colons;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    if (i) colons += ':';
    colons += "AA";
  }
  EXPECT_EQ(*NormalizeFingerprint(colons), hex);
}

TEST(NormalizeFingerprint, RefusesWrongLengthOrDigits) {
  EXPECT_FALSE(NormalizeFingerprint("abc").ok());
  EXPECT_FALSE(NormalizeFingerprint(std::string(64, 'g')).ok());
  EXPECT_FALSE(NormalizeFingerprint(std::string(65, 'a')).ok());
}

TEST(Enroll, RefusesBadFlagsBeforeDialing) {
  EnrollOptions options;
  options.controller = "no-port";
  options.token = "t";
  options.ca_sha256 = std::string(64, 'a');
  options.host_fqdn = "h.test";
  options.state_dir = "/nonexistent";
  EXPECT_NE(Enroll(options).message().find("--controller"), std::string::npos);
  options.controller = "127.0.0.1:1";
  options.host_fqdn = "Bad Host";
  EXPECT_NE(Enroll(options).message().find("--host"), std::string::npos);
  options.host_fqdn = "h.test";
  options.ca_sha256 = "1234";
  EXPECT_NE(Enroll(options).message().find("--ca-sha256"), std::string::npos);
}

}  // namespace
}  // namespace topos::agent
