// kp::detail::Session: one session with kpd. Every request of a Manager and of the objects it
// made goes through here.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kp/v1/compute.grpc.pb.h"
#include "status.h"

namespace kp::detail {

/// A channel to kpd (no message size limit on the client: the daemon enforces its own;
/// keepalive pings notice a daemon that vanished without closing the connection).
std::shared_ptr<grpc::Channel> makeChannel(const std::string& address);

/// The session: a channel, the OpenSession stream that a background thread keeps open (the
/// daemon ends the session when it closes), and unary calls that throw kp::Error on failure.
/// Thread-safe.
class Session {
  /// Lets only open() construct sessions (std::make_shared needs a public constructor).
  struct Token {
    explicit Token() = default;
  };

 public:
  using Stub = v1::Compute::Stub;

  /// How long opening a session waits for the daemon's first answer.
  static constexpr std::chrono::seconds kConnectTimeout{10};
  /// The deadline of the requests that free objects or end the session.
  static constexpr std::chrono::seconds kCleanupTimeout{30};

  /// Opens a session on `device` with `queueFamilies` at the resolved `address`. Throws
  /// UnavailableError naming the address when the daemon does not answer in
  /// kConnectTimeout, and the daemon's error when it refuses.
  static std::shared_ptr<Session> open(const std::string& address, uint32_t device,
                                       const std::vector<uint32_t>& queueFamilies);

  Session(Token, std::string address);
  /// Ends the session (close()).
  ~Session();

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// The session id every request names.
  const std::string& id() const { return id_; }
  /// The daemon's address.
  const std::string& address() const { return address_; }
  /// The device the session runs on.
  const v1::Device& device() const { return device_; }
  /// The idle lease in effect, in seconds.
  uint32_t leaseSeconds() const { return leaseSeconds_; }
  /// The gRPC stub (for calls that need no session).
  Stub& stub() const { return *stub_; }

  /// True until the session ends (close(), the daemon ended it, or the connection broke).
  bool isOpen() const;
  /// Empty while open; else why the session ended.
  std::string closedReason() const;

  /// Ends the session: CloseSession (the daemon frees everything), then closes the stream and
  /// joins its thread. Idempotent; never throws.
  void close() noexcept;

  /// Calls a unary RPC of kp.v1.Compute; throws kp::Error on failure, UnavailableError
  /// after close(). `timeout` zero: no deadline.
  template <typename Request, typename Response>
  Response call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                const Request& request,
                std::chrono::milliseconds timeout = std::chrono::milliseconds::zero()) const {
    requireNotClosedByClient();
    grpc::ClientContext context;
    if (timeout.count() > 0) context.set_deadline(std::chrono::system_clock::now() + timeout);
    Response response;
    grpc::Status status = (stub_.get()->*method)(&context, request, &response);
    if (!status.ok()) failed(status);
    return response;
  }

  /// call() for freeing an object: does nothing once the session has ended (the daemon
  /// freed everything already), and uses kCleanupTimeout.
  template <typename Request, typename Response>
  void release(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
               const Request& request) const {
    if (!isOpen()) return;
    call(method, request, kCleanupTimeout);
  }

 private:
  enum class State { kConnecting, kOpen, kFailed };

  void watch(v1::OpenSessionRequest request);
  void requireNotClosedByClient() const;
  [[noreturn]] void failed(const grpc::Status& status) const;

  const std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
  grpc::ClientContext streamContext_;
  std::thread watcher_;

  mutable std::mutex mutex_;
  std::condition_variable stateChanged_;
  State state_ = State::kConnecting;
  grpc::Status failure_;  // why opening failed (kFailed)
  bool closedByClient_ = false;
  mutable std::string closedReason_;

  // Set once, when the session opens.
  std::string id_;
  v1::Device device_;
  uint32_t leaseSeconds_ = 0;
};

}  // namespace kp::detail
