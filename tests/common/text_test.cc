#include "common/text.h"

#include <gtest/gtest.h>

namespace topos {
namespace {

TEST(ParseDuration, AcceptsEachUnit) {
  EXPECT_EQ(ParseDuration("90s")->count(), 90);
  EXPECT_EQ(ParseDuration("30m")->count(), 1800);
  EXPECT_EQ(ParseDuration("1h")->count(), 3600);
  EXPECT_EQ(ParseDuration("7d")->count(), 7 * 86400);
}

TEST(ParseDuration, RefusesMalformedInput) {
  for (const char* bad : {"", "h", "10", "-5m", "0s", "1.5h", "10x", "1h2m", "99999999999d"}) {
    auto parsed = ParseDuration(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_NE(parsed.status().message().find("duration"), std::string::npos);
    }
  }
}

TEST(CheckFqdn, AcceptsHostNames) {
  EXPECT_TRUE(CheckFqdn("chat01.contoso.test").ok());
  EXPECT_TRUE(CheckFqdn("a-1.b2.example").ok());
}

TEST(CheckFqdn, RefusesBadNamesWithReason) {
  EXPECT_NE(CheckFqdn("").message().find("empty"), std::string::npos);
  EXPECT_NE(CheckFqdn("localhost").message().find("two labels"), std::string::npos);
  EXPECT_NE(CheckFqdn("Chat01.contoso.test").message().find("lowercase"), std::string::npos);
  EXPECT_NE(CheckFqdn("a..b").message().find("empty label"), std::string::npos);
  EXPECT_NE(CheckFqdn("-a.b").message().find("'-'"), std::string::npos);
  EXPECT_FALSE(CheckFqdn("a b.test").ok());
  EXPECT_FALSE(CheckFqdn("a.test;rm -rf /").ok());
  EXPECT_FALSE(CheckFqdn(std::string(64, 'a') + ".test").ok());
  EXPECT_FALSE(CheckFqdn(std::string(300, 'a')).ok());
}

TEST(CheckHostPort, ChecksThePort) {
  EXPECT_TRUE(CheckHostPort("controller.test:7443").ok());
  EXPECT_TRUE(CheckHostPort("[::1]:7443").ok());
  EXPECT_FALSE(CheckHostPort("controller.test").ok());
  EXPECT_FALSE(CheckHostPort("controller.test:0").ok());
  EXPECT_TRUE(CheckHostPort("127.0.0.1:0", /*allow_port_zero=*/true).ok());
  EXPECT_FALSE(CheckHostPort("controller.test:70000").ok());
  EXPECT_FALSE(CheckHostPort(":7443").ok());
}

TEST(FormatAgo, UsesTheLargestUnit) {
  auto now = std::chrono::system_clock::now();
  EXPECT_EQ(FormatAgo(now - std::chrono::seconds(5), now), "5s ago");
  EXPECT_EQ(FormatAgo(now - std::chrono::minutes(3), now), "3m ago");
  EXPECT_EQ(FormatAgo(now - std::chrono::hours(49), now), "2d ago");
  EXPECT_EQ(FormatAgo({}, now), "never");
  EXPECT_EQ(FormatExpiry(now + std::chrono::hours(5), now), "in 5h");
  EXPECT_EQ(FormatExpiry(now - std::chrono::hours(5), now), "expired 5h ago");
}

}  // namespace
}  // namespace topos
