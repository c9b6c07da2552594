// FaultInjection: the rules of the spec, and when they fire.
#include "server/engine/fault_injection.h"

#include <gtest/gtest.h>

#include "test_environment.h"

namespace kp::engine::test {
namespace {

class FaultInjectionTest : public ::testing::Test {
 protected:
  void TearDown() override { FaultInjection::configure(""); }

  static int firesIn(FaultPoint point, int calls) {
    int fired = 0;
    for (int i = 0; i < calls; ++i) fired += injectFault(point) ? 1 : 0;
    return fired;
  }
};

TEST_F(FaultInjectionTest, OffByDefaultAndWhenEmpty) {
  FaultInjection::configure("");
  EXPECT_FALSE(FaultInjection::armed());
  EXPECT_EQ(firesIn(FaultPoint::kSubmit, 100), 0);
  EXPECT_EQ(FaultInjection::spec(), "");
}

TEST_F(FaultInjectionTest, AfterFailsTheNextCallOnce) {
  FaultInjection::configure("device-lost-after=3");
  EXPECT_TRUE(FaultInjection::armed());
  const uint64_t before = FaultInjection::injected();
  EXPECT_FALSE(injectFault(FaultPoint::kSubmit));
  EXPECT_FALSE(injectFault(FaultPoint::kSubmit));
  EXPECT_FALSE(injectFault(FaultPoint::kSubmit));
  EXPECT_TRUE(injectFault(FaultPoint::kSubmit));  // the 4th
  EXPECT_EQ(firesIn(FaultPoint::kSubmit, 50), 0);
  EXPECT_EQ(firesIn(FaultPoint::kWait, 50), 0) << "other points are not armed";
  EXPECT_EQ(FaultInjection::injected(), before + 1);
}

TEST_F(FaultInjectionTest, EveryFailsPeriodically) {
  FaultInjection::configure(" oom-every=5 , device-lost-wait-after=0 ");
  EXPECT_EQ(FaultInjection::spec(), "device-lost-wait-after=0,oom-every=5");
  EXPECT_EQ(firesIn(FaultPoint::kAllocate, 20), 4);
  EXPECT_TRUE(injectFault(FaultPoint::kWait));
  EXPECT_FALSE(injectFault(FaultPoint::kWait));
}

TEST_F(FaultInjectionTest, ConfiguringAgainResetsTheCounts) {
  FaultInjection::configure("oom-after=1");
  EXPECT_FALSE(injectFault(FaultPoint::kAllocate));
  FaultInjection::configure("oom-after=1");
  EXPECT_FALSE(injectFault(FaultPoint::kAllocate));
  EXPECT_TRUE(injectFault(FaultPoint::kAllocate));
}

TEST_F(FaultInjectionTest, MalformedSpecsAreRejected) {
  for (const char* spec : {"device-lost", "device-lost-after", "device-lost-after=", "gpu-after=1",
                           "oom-after=-1", "oom-after=x", "oom-every=0", "oom-after=1 2",
                           "device-lost-before=3"}) {
    SCOPED_TRACE(spec);
    expectError([&] { FaultInjection::configure(spec); }, ErrorCode::kInvalidArgument,
                "fault injection");
  }
  EXPECT_FALSE(FaultInjection::armed()) << "a rejected spec arms nothing";
}

}  // namespace
}  // namespace kp::engine::test
