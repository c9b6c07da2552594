#include "server/service/transport/local_channel.h"

#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "kp/v1/local.pb.h"
#include "server/base/error.h"
#include "server/service/transport/peer_credentials.h"
#include "server/service/transport/status.h"

namespace kp::service {
namespace {

using base::MutexLock;
using Clock = std::chrono::steady_clock;

static_assert(sizeof(uint32_t) == v1::PROTOCOL_LOCAL_FRAME_HEADER_BYTES,
              "a local frame starts with its length as a uint32");

// A frame's bytes are read in steps of at most this much: memory follows the bytes that
// arrive, never the length a frame announces.
constexpr size_t kReadStep = 1 << 20;

// Reads `size` bytes; false when the peer closed, failed, or `deadline` (if any) passed first.
bool readExactly(int fd, char* bytes, size_t size, const Clock::time_point* deadline) {
  while (size > 0) {
    if (deadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
      pollfd wait{fd, POLLIN, 0};
      if (left <= 0 || ::poll(&wait, 1, static_cast<int>(left)) <= 0) return false;
    }
    const ssize_t got = ::recv(fd, bytes, size, 0);
    if (got == 0) return false;
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes += got;
    size -= static_cast<size_t>(got);
  }
  return true;
}

// A receive asks for this much at once: a small frame's header and body arrive together.
constexpr size_t kFirstRead = 64 << 10;

// Bytes of a connection received ahead of the frame being read: [begin, end) of a fixed buffer.
struct Ahead {
  std::unique_ptr<char[]> bytes = std::make_unique<char[]>(kFirstRead);
  size_t begin = 0;
  size_t end = 0;

  size_t size() const { return end - begin; }
  const char* data() const { return bytes.get() + begin; }
  void consume(size_t count) {
    begin += count;
    if (begin == end) begin = end = 0;
  }
};

// Receives what has arrived (at least one byte) into `ahead`. False when the peer closed,
// failed, or `deadline` (if any) passed first.
bool receiveAhead(int fd, const Clock::time_point* deadline, Ahead* ahead) {
  if (ahead->begin > 0) {  // few bytes are left (less than a header): move them to the front
    std::memmove(ahead->bytes.get(), ahead->data(), ahead->size());
    ahead->end -= ahead->begin;
    ahead->begin = 0;
  }
  while (true) {
    if (deadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
      pollfd wait{fd, POLLIN, 0};
      if (left <= 0 || ::poll(&wait, 1, static_cast<int>(left)) <= 0) return false;
    }
    const ssize_t got = ::recv(fd, ahead->bytes.get() + ahead->end, kFirstRead - ahead->end, 0);
    if (got > 0) {
      ahead->end += static_cast<size_t>(got);
      return true;
    }
    if (got == 0 || errno != EINTR) return false;
  }
}

// Reads one frame into `in` (reusing its capacity), taking first what `ahead` holds and
// leaving there the bytes past this frame. False when the connection ended, the frame is
// longer than `limit` (logged), or `deadline` passed.
bool readFrame(int fd, uint64_t limit, const Clock::time_point* deadline, pid_t pid,
               std::string* in, Ahead* ahead) {
  uint32_t length = 0;
  while (ahead->size() < sizeof(length)) {
    if (!receiveAhead(fd, deadline, ahead)) return false;
  }
  std::memcpy(&length, ahead->data(), sizeof(length));
  ahead->consume(sizeof(length));
  if (length > limit) {
    spdlog::warn("local data socket: pid {} sent a {}-byte frame (limit {}); closing", pid, length,
                 limit);
    return false;
  }
  const size_t arrived = std::min<size_t>(ahead->size(), length);
  in->assign(ahead->data(), arrived);
  ahead->consume(arrived);
  while (in->size() < length) {
    const size_t done = in->size();
    const size_t step = std::min<size_t>(length - done, kReadStep);
    in->resize(done + step);
    if (!readExactly(fd, in->data() + done, step, deadline)) return false;
  }
  return true;
}

// Writes a length-prefixed frame, with `passFd` (if >= 0) as SCM_RIGHTS on the first byte.
bool writeFrame(int fd, const std::string& payload, int passFd) {
  const uint32_t length = static_cast<uint32_t>(payload.size());
  iovec parts[2] = {{const_cast<uint32_t*>(&length), sizeof(length)},
                    {const_cast<char*>(payload.data()), payload.size()}};
  msghdr message{};
  message.msg_iov = parts;
  message.msg_iovlen = 2;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (passFd >= 0) {
    std::memset(control, 0, sizeof(control));
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &passFd, sizeof(int));
  }
  size_t total = sizeof(length) + payload.size();
  while (total > 0) {
    ssize_t sent = ::sendmsg(fd, &message, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    total -= static_cast<size_t>(sent);
    if (total == 0) break;
    // Partial write: continue with the rest, without the file descriptor.
    message.msg_control = nullptr;
    message.msg_controllen = 0;
    size_t skip = static_cast<size_t>(sent);
    for (auto& part : parts) {
      const size_t used = std::min(skip, part.iov_len);
      part.iov_base = static_cast<char*>(part.iov_base) + used;
      part.iov_len -= used;
      skip -= used;
    }
    message.msg_iov = parts[0].iov_len ? parts : parts + 1;
    message.msg_iovlen = parts[0].iov_len ? 2 : 1;
  }
  return true;
}

// True if `uid` is a member of group `gid` (its primary group or a supplementary one).
bool memberOf(uid_t uid, gid_t gid) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || !found) return false;
  if (found->pw_gid == gid) return true;
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  if (::getgrouplist(found->pw_name, found->pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count));
    if (::getgrouplist(found->pw_name, found->pw_gid, groups.data(), &count) < 0) return false;
  }
  groups.resize(static_cast<size_t>(count));
  return std::find(groups.begin(), groups.end(), gid) != groups.end();
}

// The supplementary groups of the process that connected on `fd` (SO_PEERGROUPS, Linux 4.13
// and later), which may differ from the group database's: e.g. a shell after `newgrp`.
std::vector<gid_t> peerGroups(int fd) {
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 2; ++attempt) {
    socklen_t length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) == 0) {
      groups.resize(length / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE) break;
    groups.resize(length / sizeof(gid_t));
  }
  return {};
}

std::string leftOutNote(uint64_t leftOut) {
  return leftOut ? " (and " + std::to_string(leftOut) + " refusals since the last said)" : "";
}

}  // namespace

LocalChannel::LocalChannel(std::string path, const UnixSocketOptions& socket,
                           SessionRegistry& registry, CallGate& gate, LocalChannelLimits limits)
    : socket_(std::move(path), socket),
      group_(socket.group.empty() ? ::getegid() : groupId(socket.group)),
      registry_(registry),
      gate_(gate),
      limits_(limits) {
  acceptor_ = std::thread([this] { acceptLoop(); });
}

LocalChannel::~LocalChannel() {
  stop();
}

bool LocalChannel::peerAllowed(int fd, const ucred& peer) const {
  if (peer.uid == 0 || peer.uid == ::geteuid() || peer.gid == group_) return true;
  const std::vector<gid_t> groups = peerGroups(fd);
  return std::find(groups.begin(), groups.end(), group_) != groups.end() ||
         memberOf(peer.uid, group_);
}

size_t LocalChannel::connections() const {
  MutexLock lock(mutex_);
  return connections_.size();
}

void LocalChannel::stopAccepting() {
  if (!accepting_.exchange(false)) return;
  socket_.stop();
  acceptor_.join();
}

void LocalChannel::stop() {
  stopAccepting();
  if (stopping_.exchange(true)) return;
  std::unordered_map<int, std::thread> connections;
  {
    MutexLock lock(mutex_);
    for (const auto& [fd, thread] : connections_) ::shutdown(fd, SHUT_RDWR);
    connections.swap(connections_);
  }
  for (auto& [fd, thread] : connections) thread.join();
  std::vector<std::thread> finished;
  {
    MutexLock lock(mutex_);
    finished.swap(finished_);
  }
  for (auto& thread : finished) thread.join();
}

void LocalChannel::acceptLoop() {
  while (accepting_) {
    std::optional<UnixSocket::Connection> connection = socket_.accept(false);
    if (!connection) return;
    admit(*connection);
  }
}

void LocalChannel::admit(const UnixSocket::Connection& connection) {
  const ucred& peer = connection.peer;
  if (!peerAllowed(connection.fd, peer)) {
    if (uint64_t leftOut = 0; refusals_.allow(&leftOut)) {
      spdlog::warn("local data socket: refused uid {} pid {} (not kpd's user nor in its group){}",
                   peer.uid, peer.pid, leftOutNote(leftOut));
    }
    ::close(connection.fd);
    return;
  }
  MutexLock lock(mutex_);
  for (auto& thread : finished_) thread.join();
  finished_.clear();
  uint32_t& mine = perUser_[peer.uid];
  const char* refusal = connections_.size() >= limits_.maxConnections ? "--max-local-connections"
                        : mine >= limits_.maxConnectionsPerUser ? "--max-local-connections-per-user"
                                                                : nullptr;
  if (refusal) {
    if (uint64_t leftOut = 0; refusals_.allow(&leftOut)) {
      spdlog::warn(
          "local data socket: refused a connection of uid {} pid {}: {} connections "
          "open ({} of that user), the limit ({}){}",
          peer.uid, peer.pid, connections_.size(), mine, refusal, leftOutNote(leftOut));
    }
    if (mine == 0) perUser_.erase(peer.uid);
    ::close(connection.fd);
    return;
  }
  try {
    const int fd = connection.fd;
    connections_.emplace(fd, std::thread([this, fd, peer] { serve(fd, peer); }));
    ++mine;
  } catch (const std::system_error& error) {
    // Out of threads (RLIMIT_NPROC, TasksMax, memory): this client is refused, kpd goes on.
    if (uint64_t leftOut = 0; refusals_.allow(&leftOut)) {
      spdlog::error("local data socket: cannot start a thread for uid {} pid {}: {}{}", peer.uid,
                    peer.pid, error.what(), leftOutNote(leftOut));
    }
    if (mine == 0) perUser_.erase(peer.uid);
    ::close(connection.fd);
  }
}

void LocalChannel::finished(int fd, uid_t uid) {
  {
    // Unlist the connection before closing its fd, so that a new connection reusing the fd
    // number cannot be mistaken for this one.
    MutexLock lock(mutex_);
    auto found = connections_.find(fd);
    if (found != connections_.end()) {
      finished_.push_back(std::move(found->second));
      connections_.erase(found);
      if (auto user = perUser_.find(uid); user != perUser_.end() && --user->second == 0) {
        perUser_.erase(user);
      }
    }
  }
  ::close(fd);
}

void LocalChannel::serve(int fd, ucred peer) {
  std::shared_ptr<Session> session;
  v1::LocalRequest request;
  v1::LocalResponse response;
  std::string in;
  Ahead ahead;
  std::string out;
  const Clock::time_point attachBy =
      Clock::now() + std::chrono::milliseconds(limits_.attachTimeoutMs);
  while (!stopping_) {
    const uint64_t limit = session ? limits_.maxFrameBytes : kMaxFrameBeforeAttach;
    if (!readFrame(fd, limit, session ? nullptr : &attachBy, peer.pid, &in, &ahead)) break;
    response.Clear();
    int passFd = -1;
    CallGate::Pass pass = gate_.enterCall();
    std::string kind;
    uint32_t applied = 0;    // actions of the prelude (or apply) applied so far
    bool inActions = false;  // an error now is the action's at index `applied`
    grpc::Status status = guarded(
        "local",
        [&] {
          if (!pass) {
            base::fail(base::ErrorCode::kShuttingDown,
                       "kpd is shutting down: it takes no new calls");
          }
          if (!request.ParseFromString(in)) {
            base::fail(base::ErrorCode::kInvalidArgument, "the frame is not a LocalRequest");
          }
          if (request.has_attach()) {
            session = registry_.find(request.attach().session(), unixOwner(peer.uid));
            response.mutable_attach()->set_alignment(session->attachLocal());
            spdlog::debug("{}: local connection from uid {} pid {}", session->label(), peer.uid,
                          peer.pid);
            return;
          }
          KP_REQUIRE(session != nullptr, base::ErrorCode::kFailedPrecondition,
                     "attach this connection to a session first");
          session->touch();
          auto apply = [&](const v1::ApplyRequest& actions) {
            inActions = true;
            session->apply(actions, &applied);
            inActions = false;
          };
          // An arena's answer: its id and size, its memfd passed with the frame.
          auto passArena = [&](const SharedArena& arena) {
            response.mutable_map_arena()->set_arena(arena.id());
            response.mutable_map_arena()->set_size(arena.size());
            passFd = arena.fd();
          };
          if (request.has_prelude()) {
            apply(request.prelude());
            if (request.request_case() != v1::LocalRequest::REQUEST_NOT_SET) {
              // Say so at once: the client's other requests that name these objects may go.
              response.mutable_apply()->set_applied(applied);
              response.SerializeToString(&out);
              response.Clear();
              if (!writeFrame(fd, out, -1)) {
                base::fail(base::ErrorCode::kUnavailable, "the client went away");
              }
            }
          }
          switch (request.request_case()) {
            case v1::LocalRequest::kEval:
              session->eval(request.eval(), response.mutable_eval(),
                            std::chrono::system_clock::time_point::max(),
                            [this] { return gate_.givenUp(); });
              break;
            case v1::LocalRequest::kEvalAsync:
              session->evalAsync(request.eval_async());
              response.mutable_eval_async();
              break;
            case v1::LocalRequest::kEvalAwait:
              session->evalAwait(request.eval_await(), response.mutable_eval());
              break;
            case v1::LocalRequest::kMapArena:
              passArena(*session->arena(request.map_arena().arena()));
              break;
            case v1::LocalRequest::kNewArena:
              passArena(*session->newArena(request.new_arena().size()));
              break;
            case v1::LocalRequest::kApply:
              apply(request.apply());
              response.mutable_apply()->set_applied(applied);
              break;
            case v1::LocalRequest::REQUEST_NOT_SET:
              if (request.has_prelude()) break;  // a prelude alone: nothing more to do
              base::fail(base::ErrorCode::kInvalidArgument, "the frame has no request set");
            default:
              base::fail(base::ErrorCode::kInvalidArgument, "the frame has no request set");
          }
        },
        &kind);
    if (!status.ok()) {
      response.Clear();
      response.set_code(status.error_code());
      response.set_message(status.error_message());
      response.set_error_kind(kind);
      if (inActions) response.set_failed_action(applied + 1);
      passFd = -1;
    }
    response.SerializeToString(&out);
    if (!writeFrame(fd, out, passFd)) break;
  }
  finished(fd, peer.uid);
}

}  // namespace kp::service
