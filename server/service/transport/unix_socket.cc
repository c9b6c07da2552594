#include "server/service/transport/unix_socket.h"

#include <fcntl.h>

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "server/base/error.h"

namespace kp::service {
namespace {

using base::ErrorCode;

std::string errnoText(int error) {
  return std::strerror(error);
}

[[noreturn]] void failPath(const std::string& path, const std::string& what, int error) {
  base::fail(ErrorCode::kUnavailable, "unix:" + path + ": " + what + ": " + errnoText(error));
}

sockaddr_un socketAddress(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  KP_REQUIRE(path.size() < sizeof(address.sun_path), ErrorCode::kInvalidArgument,
             "unix:" + path + ": the path is " + std::to_string(path.size()) +
                 " bytes long; a socket path must be shorter than " +
                 std::to_string(sizeof(address.sun_path)));
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

// Creates the missing folders above `path`, each with mode 0755 (whatever the umask).
void createParentFolders(const std::string& path) {
  namespace fs = std::filesystem;
  std::vector<fs::path> missing;
  for (fs::path folder = fs::path(path).parent_path(); !folder.empty() && !fs::exists(folder);
       folder = folder.parent_path()) {
    missing.push_back(folder);
    if (folder == folder.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST) {
      failPath(path, "cannot create the folder " + it->string(), errno);
    }
    ::chmod(it->c_str(), 0755);
  }
}

// Removes a socket file left by a daemon that is gone; refuses to touch a live one or
// anything that is not a socket.
void removeStaleSocket(const std::string& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) return;
  if (!S_ISSOCK(info.st_mode)) {
    base::fail(ErrorCode::kUnavailable,
               path + " exists and is not a socket; refusing to replace it");
  }
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe >= 0) {
    sockaddr_un address = socketAddress(path);
    const bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    ::close(probe);
    if (live) {
      base::fail(ErrorCode::kUnavailable,
                 "unix:" + path + ": another process (another kpd?) is serving this socket");
    }
  }
  ::unlink(path.c_str());
}

}  // namespace

gid_t groupId(const std::string& group) {
  if (!group.empty() && group.find_first_not_of("0123456789") == std::string::npos) {
    return static_cast<gid_t>(std::stoul(group));
  }
  std::vector<char> buffer(16384);
  struct group entry {};
  struct group* found = nullptr;
  const int error = ::getgrnam_r(group.c_str(), &entry, buffer.data(), buffer.size(), &found);
  KP_REQUIRE(error == 0 && found != nullptr, ErrorCode::kInvalidArgument,
             "--socket-group " + group + ": no such group");
  return found->gr_gid;
}

mode_t parseSocketMode(const std::string& text) {
  const bool octal =
      !text.empty() && text.size() <= 4 && text.find_first_not_of("01234567") == std::string::npos;
  KP_REQUIRE(octal, ErrorCode::kInvalidArgument,
             "--socket-mode " + text + ": give octal permission bits such as 0660 or 0600");
  return static_cast<mode_t>(std::stoul(text, nullptr, 8)) & 0777;
}

UnixSocket::UnixSocket(std::string path, const UnixSocketOptions& options)
    : path_(std::move(path)) {
  // The socket is made under a temporary name, given its mode and group, put to listening,
  // and only then renamed into place: whoever finds the file finds it ready and protected
  // (never under the umask's permissions, never refusing connections).
  // (A path so long that no such name fits is bound in place: still protected before it
  // accepts anyone, but a client may meet a refused connection for a moment.)
  sockaddr_un address = socketAddress(path_);  // checks the length
  std::string folder = std::filesystem::path(path_).parent_path().string();
  if (folder.empty()) folder = ".";
  std::string staging = folder + "/.kpd-" + std::to_string(::getpid()) + ".sock";
  if (staging.size() >= sizeof(address.sun_path)) staging = path_;
  address = socketAddress(staging);
  const bool setGroup = !options.group.empty();
  const gid_t gid = setGroup ? groupId(options.group) : 0;
  createParentFolders(path_);
  removeStaleSocket(path_);
  if (staging != path_) ::unlink(staging.c_str());

  listenFd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listenFd_ < 0) failPath(path_, "cannot create a socket", errno);
  bool bound = false;
  auto fail = [&](const std::string& what, int error) {
    ::close(listenFd_);
    if (wakeFd_ >= 0) ::close(wakeFd_);
    listenFd_ = wakeFd_ = -1;
    if (bound) ::unlink(staging.c_str());
    failPath(path_, what, error);
  };
  if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    fail("cannot bind " + staging, errno);
  }
  bound = true;
  if (::chmod(staging.c_str(), options.mode) != 0) fail("cannot set the socket's mode", errno);
  if (setGroup) {
    if (::chown(staging.c_str(), static_cast<uid_t>(-1), gid) != 0) {
      fail("cannot give the socket to group " + options.group +
               " (kpd must run as root or be a member of the group)",
           errno);
    }
  }
  if (::listen(listenFd_, SOMAXCONN) != 0) fail("cannot listen", errno);
  wakeFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd_ < 0) fail("cannot create an eventfd", errno);
  struct stat info {};
  if (::stat(staging.c_str(), &info) != 0) fail("cannot stat " + staging, errno);
  if (staging != path_ && ::rename(staging.c_str(), path_.c_str()) != 0) {
    fail("cannot rename " + staging, errno);
  }
  inode_ = info.st_ino;
  if (options.mode & 0002) {
    spdlog::warn("unix:{} has mode {:04o}: every local user can use kpd", path_, options.mode);
  }
}

UnixSocket::UnixSocket(int fd, std::string path)
    : path_(std::move(path)), listenFd_(fd), adopted_(true) {
  // Non-blocking, as a socket made here: accept() polls, then must not block on a connection
  // that went away in between.
  const int flags = ::fcntl(listenFd_, F_GETFL);
  if (flags < 0 || ::fcntl(listenFd_, F_SETFL, flags | O_NONBLOCK) != 0 ||
      ::fcntl(listenFd_, F_SETFD, FD_CLOEXEC) != 0) {
    failPath(path_,
             "cannot use the socket passed by systemd (descriptor " + std::to_string(fd) + ")",
             errno);
  }
  wakeFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd_ < 0) failPath(path_, "cannot create an eventfd", errno);
}

UnixSocket::~UnixSocket() {
  stop();
  if (listenFd_ >= 0) ::close(listenFd_);
  if (wakeFd_ >= 0) ::close(wakeFd_);
}

std::optional<UnixSocket::Connection> UnixSocket::accept(bool nonBlocking) {
  const std::string where = address();
  while (true) {
    pollfd fds[2] = {{listenFd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("{}: poll failed: {}", where, errnoText(errno));
      return std::nullopt;
    }
    if (fds[1].revents != 0) return std::nullopt;  // stop()
    const int fd =
        ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC | (nonBlocking ? SOCK_NONBLOCK : 0));
    if (fd < 0) {
      const int error = errno;
      if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR || error == ECONNABORTED) {
        continue;
      }
      if (uint64_t leftOut = 0; acceptErrors_.allow(&leftOut)) {
        spdlog::error(
            "{}: accept failed: {}{}", where, errnoText(error),
            leftOut ? " (and " + std::to_string(leftOut) + " times since last said)" : "");
      }
      if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM ||
          error == EPERM) {
        // Out of descriptors or memory: wait for some to be freed rather than spin or give up.
        pollfd wake{wakeFd_, POLLIN, 0};
        if (::poll(&wake, 1, 200) > 0) return std::nullopt;
        continue;
      }
      return std::nullopt;
    }
    Connection connection;
    connection.fd = fd;
    socklen_t length = sizeof(connection.peer);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &connection.peer, &length) != 0) {
      spdlog::error("{}: cannot read the peer's credentials: {}", where, errnoText(errno));
      ::close(fd);
      continue;
    }
    return connection;
  }
}

void UnixSocket::stop() {
  if (wakeFd_ >= 0) {
    const uint64_t one = 1;
    if (::write(wakeFd_, &one, sizeof(one)) < 0) {
      spdlog::error("{}: cannot wake the accepting thread: {}", address(), errnoText(errno));
    }
  }
  // An adopted socket keeps listening for its owner (shutdown() would end it for both).
  if (listenFd_ >= 0 && !adopted_) ::shutdown(listenFd_, SHUT_RDWR);
  // Remove the file only if it is still the one made here (not a newer daemon's).
  struct stat info {};
  if (inode_ != 0 && ::lstat(path_.c_str(), &info) == 0 && info.st_ino == inode_) {
    ::unlink(path_.c_str());
  }
  inode_ = 0;
}

}  // namespace kp::service
