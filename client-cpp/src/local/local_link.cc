#include "client-cpp/src/local/local_link.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace kp::detail {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "frame lengths are little-endian: kp assumes a little-endian host");

constexpr size_t kHeaderBytes = sizeof(uint32_t);
// The receive buffer's first size: every reply but large downloads fits.
constexpr size_t kInitialBufferBytes = 64 * 1024;
// The daemon passes at most one descriptor per reply; room for a few more, closed at once.
constexpr size_t kMaxFds = 4;

[[noreturn]] void fail(const std::string& what) {
  throw LinkError(what + ": " + std::strerror(errno));
}

}  // namespace

std::chrono::microseconds LocalLink::spinBudget() {
  static const std::chrono::microseconds budget = [] {
    if (const char* value = std::getenv("KP_SPIN_US")) {
      return std::chrono::microseconds(std::max(0L, std::strtol(value, nullptr, 10)));
    }
    return std::chrono::microseconds(std::thread::hardware_concurrency() >= 8 ? 2000 : 0);
  }();
  return budget;
}

LocalLink::LocalLink(const std::string& path) : in_(kInitialBufferBytes) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    throw LinkError("the path is empty or too long for a Unix socket");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  fd_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_) fail("socket");
  // A daemon whose backlog is full (it does not accept) must not hang connect() either.
  timeval bound{static_cast<time_t>(kAnswerTimeout.count() / 1000), 0};
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof(bound));
  int result = 0;
  do {
    result = ::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  } while (result != 0 && errno == EINTR);
  if (result != 0) fail("connect");
  timeval none{};
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
}

void LocalLink::roundTrip(const std::string& frame, v1::LocalResponse* response,
                          std::vector<UniqueFd>* fds) {
  sendAll(frame.data(), frame.size());
  size_t got = spin(fds);
  while (got < kHeaderBytes) got += receive(got, fds);
  uint32_t length = 0;
  std::memcpy(&length, in_.data(), kHeaderBytes);
  const size_t total = kHeaderBytes + length;
  if (in_.size() < total) in_.resize(total);
  while (got < total) got += receive(got, fds);
  if (got != total) throw LinkError("the daemon sent more than one reply");
  if (!response->ParseFromArray(in_.data() + kHeaderBytes, static_cast<int>(length))) {
    throw LinkError("the daemon's reply is not a LocalResponse");
  }
}

void LocalLink::setReplyTimeout(std::chrono::milliseconds timeout) {
  if (timeout == replyTimeout_) return;
  timeval value{};
  value.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  value.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &value, sizeof(value)) != 0) {
    fail("setsockopt(SO_RCVTIMEO)");
  }
  replyTimeout_ = timeout;
}

void LocalLink::sendAll(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t sent = ::send(fd_.get(), data, size, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      fail("send");
    }
    data += sent;
    size -= static_cast<size_t>(sent);
  }
}

size_t LocalLink::spin(std::vector<UniqueFd>* fds) {
  const std::chrono::microseconds budget = spinBudget();
  if (budget.count() == 0) return 0;
  const auto end = std::chrono::steady_clock::now() + budget;
  do {
    if (const size_t got = receive(0, fds, true)) return got;
  } while (std::chrono::steady_clock::now() < end);
  return 0;
}

size_t LocalLink::receive(size_t offset, std::vector<UniqueFd>* fds, bool poll) {
  iovec part{in_.data() + offset, in_.size() - offset};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msghdr message{};
  message.msg_iov = &part;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  ssize_t got = 0;
  do {
    got = ::recvmsg(fd_.get(), &message, MSG_CMSG_CLOEXEC | (poll ? MSG_DONTWAIT : 0));
  } while (got < 0 && errno == EINTR);
  if (got < 0 && poll && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && replyTimeout_.count() > 0) {
    throw LinkError("kpd did not answer within " + std::to_string(replyTimeout_.count()) + " ms");
  }
  if (got < 0) fail("recvmsg");
  // Take ownership of any descriptors first, so that none leaks whatever happens next.
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
       header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
      UniqueFd owned(fd);
      if (fds != nullptr) fds->push_back(std::move(owned));
    }
  }
  if (got == 0) throw LinkError("the daemon closed the connection");
  return static_cast<size_t>(got);
}

}  // namespace kp::detail
