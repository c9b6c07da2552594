// kp::detail::Session: one session with kpd. Every request of a Manager and of the objects it
// made goes through here.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client-cpp/src/local/local_channel.h"
#include "client-cpp/src/security.h"
#include "client-cpp/src/status.h"
#include "kp/v1/compute.grpc.pb.h"
#include "kp/v1/local.pb.h"

namespace kp::detail {

/// A channel to kpd with `security`'s credentials and token (no message size limit on the
/// client: the daemon enforces its own; keepalive pings notice a daemon that vanished without
/// closing the connection).
std::shared_ptr<grpc::Channel> makeChannel(const Security& security);

/// The session: a channel, the OpenSession stream that a background thread keeps open (the
/// daemon ends the session when it closes), and unary calls that throw kp::Error on failure.
/// On the daemon's host it also holds the same-host fast path (local()): the local data
/// socket, which carries evaluations without gRPC, and the shared memory of its tensors.
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

  /// Opens a session on `device` with `queueFamilies` at the resolved `address`, with
  /// `security`'s TLS and token. Throws UnavailableError naming the address when the daemon
  /// does not answer in kConnectTimeout, and the daemon's error when it refuses
  /// (UnauthenticatedError for a missing or wrong token), with Security::explain()'s hint. With
  /// `sharedMemory`, connects the local data socket when the daemon offers one
  /// (SessionOpened.data_socket) and falls back to gRPC alone when it cannot be used. The
  /// local data socket carries no token: attaching to a session takes its secret id, which
  /// only a caller that passed the token on the session stream has (as in the Python client).
  static std::shared_ptr<Session> open(const std::string& address, Security security,
                                       uint32_t device, const std::vector<uint32_t>& queueFamilies,
                                       bool sharedMemory);

  Session(Token, std::string address, Security security);
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
  /// The largest message the daemon accepts or sends; 0 when it does not say.
  uint64_t maxMessageBytes() const { return maxMessageBytes_; }
  /// The TLS settings and token of the channel.
  const Security& security() const { return security_; }
  /// The gRPC stub (for calls that need no session, and streams).
  Stub& stub() const { return *stub_; }
  /// The same-host fast path, or null when the session has none (TCP, switched off, or the
  /// data socket could not be used).
  LocalChannel* local() const { return local_.get(); }

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
    Response response;
    callInto(method, request, &response, timeout);
    return response;
  }

  /// call() into the caller's `response` (which it may reuse from call to call).
  template <typename Request, typename Response>
  void callInto(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                const Request& request, Response* response,
                std::chrono::milliseconds timeout = std::chrono::milliseconds::zero()) const {
    requireNotClosedByClient();
    grpc::ClientContext context;
    if (timeout.count() > 0) context.set_deadline(std::chrono::system_clock::now() + timeout);
    grpc::Status status = (stub_.get()->*method)(&context, request, response);
    if (!status.ok()) failed(status);
  }

  /// Sends `frame` (see writeLocalFrame) on the local data socket, which the session must
  /// have, and parses the reply into `response`; throws kp::Error as call() does, when the
  /// daemon answers with an error or the connection fails.
  void callLocal(const std::string& frame, v1::LocalResponse* response) const;

  /// The mapping of shared-memory arena `id`, from the local data socket (which the session
  /// must have); throws kp::Error as call() does.
  std::shared_ptr<SharedArena> arena(uint64_t id) const;

  /// call() for freeing an object: does nothing once the session has ended (the daemon
  /// freed everything already), and uses kCleanupTimeout.
  template <typename Request, typename Response>
  void release(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
               const Request& request) const {
    if (!isOpen()) return;
    call(method, request, kCleanupTimeout);
  }

  /// Throws UnavailableError once close() was called.
  void requireNotClosedByClient() const;
  /// Throws the kp::Error of a failed call; an UNAVAILABLE status means the daemon went away,
  /// which ends the session (closedReason()).
  [[noreturn]] void failed(const grpc::Status& status) const;

 private:
  enum class State { kConnecting, kOpen, kFailed };

  void watch(v1::OpenSessionRequest request);
  // A connection failure of the local data socket as failed() reports it.
  [[noreturn]] void localFailed(const LinkError& error) const;

  const std::string address_;
  const Security security_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
  grpc::ClientContext streamContext_;
  std::thread watcher_;

  mutable std::mutex mutex_;
  std::condition_variable stateChanged_;
  State state_ = State::kConnecting;
  grpc::Status failure_;  // why opening failed (kFailed)
  std::atomic<bool> closedByClient_{false};
  mutable std::string closedReason_;

  // Set once, when the session opens.
  std::string id_;
  v1::Device device_;
  uint32_t leaseSeconds_ = 0;
  uint64_t maxMessageBytes_ = 0;
  std::string dataSocket_;
  std::unique_ptr<LocalChannel> local_;
};

}  // namespace kp::detail
