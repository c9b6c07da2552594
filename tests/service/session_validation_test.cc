// Validation rows of sessions: requests naming no session or an unknown one, and OpenSession's
// fields (device, queue families, client name).
#include <string>
#include <vector>

#include "validation_table.h"

namespace kp::service::test::validation {

std::vector<Row> sessionRows() {
  using CS = ComputeService;
  const auto open = [](auto fill) {
    return [fill](ValidationContext& c) {
      v1::OpenSessionRequest request;
      fill(c, request);
      return c.openSession(request);
    };
  };
  return {
      {"request with empty session id",
       [](ValidationContext& c) {
         return c.send(&CS::CreateSequence, v1::CreateSequenceRequest());
       },
       kNotFound, R"(^session is not set$)"},
      {"request naming an unknown session",
       [](ValidationContext& c) {
         v1::CreateTensorRequest request;
         request.set_session(kUnknownSession);
         request.set_data_type(kF32);
         request.set_size(1);
         return c.send(&CS::CreateTensor, request);
       },
       kNotFound, "session " + kUnknownSession + " does not exist"},
      {"CloseSession with empty session id",
       [](ValidationContext& c) { return c.send(&CS::CloseSession, v1::CloseSessionRequest()); },
       kNotFound, R"(^session is not set$)"},
      {"CloseSession of an unknown session",
       [](ValidationContext& c) {
         v1::CloseSessionRequest request;
         request.set_session(kUnknownSession);
         return c.send(&CS::CloseSession, request);
       },
       kNotFound, "session " + kUnknownSession + " does not exist"},
      {"OpenSession on a device that does not exist",
       open([](ValidationContext&, v1::OpenSessionRequest& r) { r.set_device(99); }), kNotFound,
       R"(device: device index 99 does not exist: 1 device\(s\) available)"},
      {"OpenSession naming a queue family that does not exist",
       open([](ValidationContext&, v1::OpenSessionRequest& r) { r.add_queue_families(99); }),
       kInvalid, R"(queue_families: queue family 99 does not exist on device 0)"},
      {"OpenSession asking for more queues than the family has",
       open([](ValidationContext& c, v1::OpenSessionRequest& r) {
         for (int i = 0; i < 1000; ++i) r.add_queue_families(c.device.default_queue_family());
       }),
       kInvalid, R"(queue_families: queue family \d+ has \d+ queue\(s\); more were requested)"},
      {"OpenSession with an oversized client_name",
       open([](ValidationContext&, v1::OpenSessionRequest& r) {
         r.set_client_name(std::string(1000, 'x'));
       }),
       kInvalid, R"(client_name has 1000 bytes; at most 256)"},
  };
}

INSTANTIATE_TEST_SUITE_P(Sessions, ValidationRow, ::testing::ValuesIn(sessionRows()), rowName);

}  // namespace kp::service::test::validation
