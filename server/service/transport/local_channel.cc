#include "server/service/transport/local_channel.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "server/base/error.h"
#include "kp/v1/local.pb.h"
#include "server/service/transport/status.h"

namespace kp::service {
namespace {

static_assert(sizeof(uint32_t) == v1::PROTOCOL_LOCAL_FRAME_HEADER_BYTES,
              "a local frame starts with its length as a uint32");

bool readExactly(int fd, void* data, size_t size) {
  auto* bytes = static_cast<char*>(data);
  while (size > 0) {
    ssize_t got = ::recv(fd, bytes, size, 0);
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

bool peerAllowed(uid_t uid, gid_t gid) { return uid == 0 || uid == geteuid() || gid == getegid(); }

}  // namespace

LocalChannel::LocalChannel(std::string path, SessionRegistry& registry, CallGate& gate,
                           uint64_t maxFrameBytes, unsigned mode)
    : path_(std::move(path)), registry_(registry), gate_(gate), maxFrameBytes_(maxFrameBytes) {
  listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (listener_ < 0 || path_.size() >= sizeof(address.sun_path)) {
    base::fail(base::ErrorCode::kUnavailable, "cannot create the local data socket " + path_);
  }
  std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
  ::unlink(path_.c_str());
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::chmod(path_.c_str(), mode & 0777) != 0 || ::listen(listener_, 64) != 0) {
    const std::string error = strerror(errno);
    ::close(listener_);
    base::fail(base::ErrorCode::kUnavailable,
                 "cannot listen on the local data socket " + path_ + ": " + error);
  }
  acceptor_ = std::thread([this] { acceptLoop(); });
}

LocalChannel::~LocalChannel() { stop(); }

void LocalChannel::stopAccepting() {
  if (!accepting_.exchange(false)) return;
  ::shutdown(listener_, SHUT_RDWR);
  acceptor_.join();
  ::close(listener_);
  ::unlink(path_.c_str());
}

void LocalChannel::stop() {
  stopAccepting();
  if (stopping_.exchange(true)) return;
  std::unordered_map<int, std::thread> connections;
  {
    base::MutexLock lock(mutex_);
    for (const auto& [fd, thread] : connections_) ::shutdown(fd, SHUT_RDWR);
    connections.swap(connections_);
  }
  for (auto& [fd, thread] : connections) thread.join();
  std::vector<std::thread> finished;
  {
    base::MutexLock lock(mutex_);
    finished.swap(finished_);
  }
  for (auto& thread : finished) thread.join();
}

void LocalChannel::acceptLoop() {
  while (accepting_) {
    int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    ucred peer{};
    socklen_t length = sizeof(peer);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 ||
        !peerAllowed(peer.uid, peer.gid)) {
      spdlog::warn("local data socket: refused peer uid {} pid {}", peer.uid, peer.pid);
      ::close(fd);
      continue;
    }
    base::MutexLock lock(mutex_);
    for (auto& thread : finished_) thread.join();
    finished_.clear();
    connections_.emplace(fd, std::thread([this, fd, peer] { serve(fd, peer.uid, peer.pid); }));
  }
}

void LocalChannel::serve(int fd, uid_t uid, pid_t pid) {
  std::shared_ptr<Session> session;
  v1::LocalRequest request;
  v1::LocalResponse response;
  std::string in;
  std::string out;
  while (!stopping_) {
    uint32_t length = 0;
    if (!readExactly(fd, &length, sizeof(length))) break;
    if (length > maxFrameBytes_) {
      spdlog::warn("local data socket: pid {} sent a {}-byte frame (limit {}); closing", pid,
                   length, maxFrameBytes_);
      break;
    }
    in.resize(length);
    if (!readExactly(fd, in.data(), length)) break;
    response.Clear();
    int passFd = -1;
    CallGate::Pass pass = gate_.enterCall();
    std::string kind;
    grpc::Status status = guarded("local", [&] {
      if (!pass) {
        base::fail(base::ErrorCode::kShuttingDown, "kpd is shutting down: it takes no new calls");
      }
      if (!request.ParseFromString(in)) {
        base::fail(base::ErrorCode::kInvalidArgument, "the frame is not a LocalRequest");
      }
      if (request.has_attach()) {
        session = registry_.find(request.attach().session());
        response.mutable_attach()->set_alignment(session->attachLocal());
        spdlog::debug("{}: local connection from uid {} pid {}", session->label(), uid, pid);
        return;
      }
      KP_REQUIRE(session != nullptr, base::ErrorCode::kFailedPrecondition,
                 "attach this connection to a session first");
      session->touch();
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
        case v1::LocalRequest::kMapArena: {
          auto arena = session->arena(request.map_arena().arena());
          response.mutable_map_arena()->set_arena(arena->id());
          response.mutable_map_arena()->set_size(arena->size());
          passFd = arena->fd();
          break;
        }
        default:
          base::fail(base::ErrorCode::kInvalidArgument, "the frame has no request set");
      }
    }, &kind);
    if (!status.ok()) {
      response.Clear();
      response.set_code(status.error_code());
      response.set_message(status.error_message());
      response.set_error_kind(kind);
      passFd = -1;
    }
    response.SerializeToString(&out);
    if (!writeFrame(fd, out, passFd)) break;
  }
  {
    // Unlist the connection before closing its fd, so that a new connection reusing the fd
    // number cannot be mistaken for this one.
    base::MutexLock lock(mutex_);
    auto found = connections_.find(fd);
    if (found != connections_.end()) {
      finished_.push_back(std::move(found->second));
      connections_.erase(found);
    }
  }
  ::close(fd);
}

}  // namespace kp::service
