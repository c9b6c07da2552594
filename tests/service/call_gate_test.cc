// The shutdown gate: admits calls until draining, then waits for those in flight.
#include "server/service/transport/call_gate.h"

#include <gtest/gtest.h>

#include <optional>
#include <thread>

namespace kp::service {
namespace {

using std::chrono::milliseconds;

TEST(CallGate, RefusesAfterDrainingStarts) {
  CallGate gate;
  {
    CallGate::Pass pass = gate.enterCall();
    EXPECT_TRUE(pass);
    EXPECT_EQ(gate.calls(), 1u);
  }
  EXPECT_EQ(gate.calls(), 0u);
  gate.callStarted();
  EXPECT_EQ(gate.calls(), 1u);
  gate.callEnded();
  EXPECT_TRUE(gate.streamStarted());
  gate.startDraining();
  EXPECT_FALSE(gate.enterCall());
  EXPECT_FALSE(gate.streamStarted());
  EXPECT_EQ(gate.streams(), 1u);
  gate.streamDone();
  EXPECT_TRUE(gate.waitForStreams(CallGate::Clock::now()));
}

TEST(CallGate, WaitsForCallsInFlight) {
  CallGate gate;
  std::optional<CallGate::Pass> pass(gate.enterCall());
  gate.startDraining();
  EXPECT_FALSE(gate.waitForCalls(CallGate::Clock::now() + milliseconds(20)));
  std::thread finisher([&] { pass.reset(); });
  // Whether the call ends before or during the wait, the wait ends with it (a wait that missed
  // the end would last an hour: past ctest's timeout).
  EXPECT_TRUE(gate.waitForCalls(CallGate::Clock::now() + std::chrono::hours(1)));
  finisher.join();
  EXPECT_FALSE(gate.givenUp());
  gate.giveUp();
  EXPECT_TRUE(gate.givenUp());
}

}  // namespace
}  // namespace kp::service
