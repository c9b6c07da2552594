// One input of the request fuzzer: its sessions, the handles they created (for the FuzzInput
// handle numbering, see fuzz_input.proto) and the requests it runs. Each request goes the
// way the service's handler sends it (SessionRegistry::find, then the Session method, inside
// service::guarded, which maps errors to statuses) and its status is checked (see
// request_harness.h for what is a finding).
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "fuzz_input.pb.h"
#include "request_harness.h"
#include "server/service/session/session.h"

namespace kp::fuzz {

class InputRun {
 public:
  // Opens the main session with `open` (or a default one when that is refused) and attaches a
  // local data connection to it when `attachLocal`.
  InputRun(RequestHarness& harness, const v1::OpenSessionRequest& open, bool attachLocal);
  ~InputRun();

  InputRun(const InputRun&) = delete;
  InputRun& operator=(const InputRun&) = delete;

  void call(const Call& call);
  // A request of type `type` (RawRequest.type) decoded from `bytes`, on the main session,
  // without handle mapping. Does nothing when the bytes do not decode.
  void raw(uint32_t type, const std::string& bytes);
  // Closes every session of the input and waits until their GPU work is freed.
  void finish();

  struct SessionState {
    std::shared_ptr<service::Session> session;
    std::string id;
    // Handles created, in order (FuzzInput handle n is element n - 1).
    std::vector<uint64_t> tensors;
    std::vector<uint64_t> algorithms;
    std::vector<uint64_t> sequences;
    std::unordered_map<uint64_t, uint64_t> tensorBytes;  // handle -> bytes
  };

 private:
  class Mapper;

  SessionState* open(const v1::OpenSessionRequest& request, SessionState* state);
  SessionState& second();
  // Runs `body` as the service runs a handler and checks the status it maps to.
  template <typename F>
  grpc::Status invoke(const char* rpc, const Mapper& mapper, bool cancel, F&& body);
  std::shared_ptr<service::Session> find(const std::string& id);
  void dispatch(const Call& call, SessionState& target, Mapper& mapper);

  // Ends the process as a finding, naming the call that was running.
  [[noreturn]] void fail(const std::string& what) const;

  RequestHarness& harness_;
  const Call* current_ = nullptr;  // the call running, for findings
  SessionState main_;
  SessionState second_;
  bool finished_ = false;
};

}  // namespace kp::fuzz
