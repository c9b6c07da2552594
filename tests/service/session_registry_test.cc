// The session registry (lifecycle/session_registry.h): opening checks the request's fields,
// ids are secret and unique, serials and labels public, an ended session's id answers why it
// ended, the session limit holds.
#include <set>

#include "service_fixture.h"

namespace kp::service::test {
namespace {

using base::ErrorCode;

class SessionRegistryTest : public ServiceTest {
 protected:
  void SetUp() override {
    config_.maxSessions = 3;
    ServiceTest::SetUp();
  }

  void expectOpenFails(const v1::OpenSessionRequest& request, ErrorCode code,
                       const std::string& message) {
    v1::SessionOpened opened;
    expectError([&] { registry_->open(request, "in-process", kOwner, false, &opened); }, code,
                message);
  }
};

TEST_F(SessionRegistryTest, OpenedSessionsAreFoundByTheirSecretIdOnly) {
  std::string a, b;
  auto first = open("first", &a);
  auto second = open("second", &b);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(registry_->find(a, kOwner), first);
  EXPECT_EQ(registry_->find(b, kOwner), second);
  EXPECT_EQ(first->serial() + 1, second->serial());
  EXPECT_EQ(first->label(), "session #" + std::to_string(first->serial()) + " (first)");
  EXPECT_EQ(registry_->label(second->serial()), second->label());
  EXPECT_EQ(registry_->label(12345), "");
  EXPECT_EQ(registry_->size(), 2u);
  expectError([&] { registry_->find("", kOwner); }, ErrorCode::kNotFound, "session is not set");
  expectError([&] { registry_->find(std::string(32, '0'), kOwner); }, ErrorCode::kNotFound,
              "does not exist (it ended or never existed)");
}

TEST_F(SessionRegistryTest, AnEndedSessionSaysWhy) {
  std::string id;
  auto session = open("test", &id);
  registry_->close(id, kOwner, "closed by the client");
  expectError(
      [&] { registry_->find(id, kOwner); }, ErrorCode::kNotFound,
      "session " + id + " does not exist any more (the session ended: closed by the client)");
  expectError([&] { registry_->close(id, kOwner, "again"); }, ErrorCode::kNotFound,
              "does not exist");
  // Calls already holding the session hear it too, naming it by its serial only.
  expectError([&] { session->createSequence(v1::CreateSequenceRequest()); }, ErrorCode::kNotFound,
              "session #" + std::to_string(session->serial()) +
                  " does not exist any more (the session ended: closed by the client)");
}

TEST_F(SessionRegistryTest, SessionsBelongToTheirOpener) {
  std::string id, ended;
  auto session = open("mine", &id);
  open("gone", &ended);
  registry_->close(ended, kOwner, "closed by the client");
  // Another owner's calls learn nothing: the same answer as for an id that never existed,
  // and no reason for an ended one.
  for (const std::string& other : {std::string("uid 1001"), std::string("tcp")}) {
    expectError([&] { registry_->find(id, other); }, ErrorCode::kNotFound,
                "session " + id + " does not exist (it ended or never existed)");
    expectError([&] { registry_->close(id, other, "stolen"); }, ErrorCode::kNotFound,
                "session " + id + " does not exist (it ended or never existed)");
    expectError([&] { registry_->find(ended, other); }, ErrorCode::kNotFound,
                "session " + ended + " does not exist (it ended or never existed)");
  }
  EXPECT_EQ(registry_->find(id, kOwner), session);
  EXPECT_FALSE(session->isClosed());
}

TEST_F(SessionRegistryTest, ErrorsEchoLongIdsCut) {
  const std::string huge(1 << 20, 'a');
  expectError([&] { registry_->find(huge, kOwner); }, ErrorCode::kNotFound,
              "session " + std::string(40, 'a') + "... (1048576 bytes) does not exist");
  expectError([&] { registry_->find(std::string("\x01\n\xff", 3), kOwner); }, ErrorCode::kNotFound,
              "session ??? does not exist");
}

TEST_F(SessionRegistryTest, TakeHandsOverTheSessionsItIsAskedFor) {
  std::string a, b;
  auto first = open("first", &a);
  auto second = open("second", &b);
  const auto taken = registry_->take([&](const Session& s) -> std::optional<std::string> {
    if (s.serial() == second->serial()) return "picked";
    return std::nullopt;
  });
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].first, second);
  EXPECT_EQ(taken[0].second, "picked");
  EXPECT_EQ(registry_->size(), 1u);
  expectError([&] { registry_->find(b, kOwner); }, ErrorCode::kNotFound,
              "(the session ended: picked)");
  EXPECT_EQ(registry_->find(a, kOwner), first);
  retirement_->end(taken[0].first, taken[0].second);
}

TEST_F(SessionRegistryTest, OpenChecksItsFields) {
  v1::OpenSessionRequest request;
  request.set_device(99);
  expectOpenFails(request, ErrorCode::kNotFound,
                  "device: device index 99 does not exist: " +
                      std::to_string(instance_->deviceCount()) + " device(s) available");
  request.set_device(0);
  request.add_queue_families(99);
  expectOpenFails(request, ErrorCode::kInvalidArgument,
                  "queue_families: queue family 99 does not exist on device 0");
  request.clear_queue_families();
  const uint32_t family = instance_->deviceInfo(0).defaultComputeFamily();
  for (int i = 0; i < 1000; ++i) request.add_queue_families(family);
  expectOpenFails(request, ErrorCode::kInvalidArgument,
                  "queue_families: queue family " + std::to_string(family) + " has ");
  request.clear_queue_families();
  request.set_client_name(std::string(257, 'x'));
  expectOpenFails(request, ErrorCode::kInvalidArgument,
                  "client_name has 257 bytes; at most 256 are accepted");
  EXPECT_EQ(registry_->size(), 0u) << "nothing refused was opened";
}

TEST_F(SessionRegistryTest, TheSessionLimitHolds) {
  for (int i = 0; i < 3; ++i) open();
  expectOpenFails(v1::OpenSessionRequest(), ErrorCode::kResourceExhausted,
                  "the daemon already has 3 sessions open, its limit (--max-sessions 3)");
}

TEST_F(SessionRegistryTest, ClientNamesAreLoggedPrintableOnly) {
  auto session = open(std::string("evil\nname\x1b[31m"));
  EXPECT_EQ(session->label(),
            "session #" + std::to_string(session->serial()) + " (evil?name?[31m)");
}

}  // namespace
}  // namespace kp::service::test
