// The flags `certs rollout` (and `rollout start`) share: --effective-at in
// its two forms and the strategy flags' refusals; and how a certificate
// rollout reads in the views.
#include "controller/cli/rollout_flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controller/cli/rollout_view.h"

namespace topos::cli {
namespace {

using ::testing::HasSubstr;

constexpr std::int64_t kNow = 1'800'000'000;  // 2027-01-15T08:00:00Z

TEST(RolloutFlags, EffectiveAtTakesRfc3339InUtcOrWithAnOffset) {
  auto utc = ParseEffectiveAt("2026-11-27T02:00:00Z", kNow);
  ASSERT_TRUE(utc.ok()) << utc.status().message();
  EXPECT_EQ(*utc, 1'795'744'800);
  auto offset = ParseEffectiveAt("2026-11-27T03:30:00+01:30", kNow);
  ASSERT_TRUE(offset.ok()) << offset.status().message();
  EXPECT_EQ(*offset, 1'795'744'800);
  auto west = ParseEffectiveAt("2026-11-26T21:00:00-05:00", kNow);
  ASSERT_TRUE(west.ok());
  EXPECT_EQ(*west, 1'795'744'800);
  auto fraction = ParseEffectiveAt("2026-11-27T02:00:00.250z", kNow);
  ASSERT_TRUE(fraction.ok());
  EXPECT_EQ(*fraction, 1'795'744'800);
  auto leap_day = ParseEffectiveAt("2028-02-29T00:00:00Z", kNow);
  EXPECT_TRUE(leap_day.ok());
}

TEST(RolloutFlags, EffectiveAtTakesADelayFromNow) {
  EXPECT_EQ(*ParseEffectiveAt("+2h", kNow), kNow + 7200);
  EXPECT_EQ(*ParseEffectiveAt("+30m", kNow), kNow + 1800);
  EXPECT_EQ(*ParseEffectiveAt("+90s", kNow), kNow + 90);
  EXPECT_EQ(*ParseEffectiveAt("+1d", kNow), kNow + 86400);
}

TEST(RolloutFlags, EffectiveAtRefusesWhatIsNotATimeSayingWhatIs) {
  for (const char* bad : {"", "tomorrow", "2026-11-27", "2026-11-27T02:00Z", "2026-13-01T00:00:00Z",
                          "2027-02-29T00:00:00Z", "2026-11-27T24:00:00Z", "2026-11-27T02:00:00+1",
                          "2026-11-27T02:00:00Zjunk", "1969-12-31T23:59:59Z"}) {
    auto parsed = ParseEffectiveAt(bad, kNow);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr("--effective-at")) << bad;
  }
  auto no_zone = ParseEffectiveAt("2026-11-27T02:00:00", kNow);
  EXPECT_THAT(no_zone.status().message(), HasSubstr("no time zone"));
  auto bad_delay = ParseEffectiveAt("+2x", kNow);
  EXPECT_FALSE(bad_delay.ok());
  EXPECT_THAT(bad_delay.status().message(), HasSubstr("--effective-at \"+2x\""));
  EXPECT_FALSE(ParseEffectiveAt("+-5m", kNow).ok());
  EXPECT_FALSE(ParseEffectiveAt("+", kNow).ok());
}

TEST(RolloutFlags, StrategyFlagsBecomeASpecOrARefusalNamingTheFlag) {
  StrategyFlags flags;
  flags.max_unavailable = "10%";
  flags.failure_threshold = "20%";
  flags.offline_timeout = "90s";
  auto spec = ToSpec(flags);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(spec->max_unavailable(), "10%");
  EXPECT_EQ(spec->failure_threshold_percent(), 20u);
  EXPECT_EQ(spec->offline_timeout_seconds(), 90u);
  EXPECT_EQ(spec->step_timeout_seconds(), 300u);
  flags.failure_threshold = "120%";
  EXPECT_THAT(ToSpec(flags).status().message(), HasSubstr("--failure-threshold"));
  flags.failure_threshold = "0%";
  flags.step_timeout = "2d";
  EXPECT_THAT(ToSpec(flags).status().message(), HasSubstr("--step-timeout"));
}

v1::Rollout CertificateRollout(const std::string& state) {
  v1::Rollout rollout;
  rollout.set_id("r-00000000cafe");
  rollout.set_kind(v1::ROLLOUT_CERTIFICATES);
  rollout.set_state(state);
  rollout.set_reissue(true);
  rollout.set_effective_at_unix_ms(1'795'744'800'000);
  auto* pool = rollout.add_pools();
  pool->set_name("web");
  pool->add_hosts()->set_phase("waiting");
  return rollout;
}

TEST(RolloutView, CertificateRolloutsShowTheirKindAndSchedule) {
  v1::Rollout scheduled = CertificateRollout("scheduled");
  EXPECT_EQ(KindName(scheduled), "certificates");
  EXPECT_EQ(ScheduleText(scheduled), "scheduled for 2026-11-27T02:00:00Z");
  EXPECT_THAT(ProgressLines(scheduled).back(),
              HasSubstr("scheduled: 0 of 1 hosts finished (scheduled for 2026-11-27T02:00:00Z)"));
  const std::string status = StatusText(scheduled);
  EXPECT_THAT(status, HasSubstr("(certificates, reissue, topology version"));
  EXPECT_THAT(status, HasSubstr("scheduled for 2026-11-27T02:00:00Z: no host starts before then"));

  v1::Rollout running = CertificateRollout("running");
  EXPECT_EQ(ScheduleText(running), "");
  EXPECT_THAT(StatusText(running), HasSubstr("effective at 2026-11-27T02:00:00Z"));
  v1::Rollout deploy;
  EXPECT_EQ(KindName(deploy), "deploy");
  deploy.set_kind(v1::ROLLOUT_ROLLBACK);
  EXPECT_EQ(KindName(deploy), "rollback");
  // Not done: no exit code yet.
  EXPECT_EQ(ExitCodeFor(scheduled), kRolloutUnknown);
}

}  // namespace
}  // namespace topos::cli
