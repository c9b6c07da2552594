// kp::detail::LocalLink: one connection to kpd's local data socket (proto/kp/v1/local.proto).
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "kp/v1/local.pb.h"
#include "client-cpp/src/local/unique_fd.h"

namespace kp::detail {

/// The connection to the local data socket broke or could not be made (not a status from
/// the daemon). The link that threw it is unusable.
class LinkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One connection to the local data socket: frames out, frames (and file descriptors) in.
/// Each request gets exactly one reply, so a link serves one caller at a time; LocalChannel
/// pools them. The receive buffer is kept between calls: a round trip allocates nothing once
/// it has seen replies of the size it gets.
///
/// Waking a process that sleeps on the socket costs tens of microseconds per evaluation, so a
/// link first polls for the reply for up to spinBudget(); where cores are few that would take
/// CPU from the daemon and its driver instead, and the budget is 0.
class LocalLink {
 public:
  /// Connects to the Unix socket at `path`. Throws LinkError.
  explicit LocalLink(const std::string& path);

  LocalLink(const LocalLink&) = delete;
  LocalLink& operator=(const LocalLink&) = delete;

  /// How long a round trip polls for its reply before sleeping: $KP_SPIN_US microseconds when
  /// set, else 2000 µs on machines with 8 or more cores and none below (as the Python client).
  static std::chrono::microseconds spinBudget();

  /// Sends `frame` (a whole frame: the 4-byte length and a serialized LocalRequest) and parses
  /// the reply into `response`. File descriptors that came with the reply (SCM_RIGHTS) are
  /// appended to `fds`, or closed when it is null. Throws LinkError when the connection fails
  /// or the reply is not a LocalResponse. The response's `code` is the caller's to check.
  void roundTrip(const std::string& frame, v1::LocalResponse* response,
                 std::vector<UniqueFd>* fds = nullptr);

  /// Bounds how long a reply may take from now on (zero: no bound). For the replies kpd gives
  /// at once (attach, an arena): a daemon that accepted the connection but does not answer
  /// then fails the call with LinkError instead of hanging it. Evaluations are bounded by kpd.
  void setReplyTimeout(std::chrono::milliseconds timeout);

  /// The bound on the replies kpd gives at once.
  static constexpr std::chrono::milliseconds kAnswerTimeout{10'000};

 private:
  void sendAll(const char* data, size_t size);
  // One recvmsg() into in_ from `offset`; returns the bytes read (never 0). With `poll`,
  // does not wait: returns 0 when nothing has arrived yet.
  size_t receive(size_t offset, std::vector<UniqueFd>* fds, bool poll = false);
  // Polls for the first bytes of the reply for up to spinBudget(); returns those read.
  size_t spin(std::vector<UniqueFd>* fds);

  UniqueFd fd_;
  std::vector<char> in_;
  std::chrono::milliseconds replyTimeout_{0};
};

}  // namespace kp::detail
