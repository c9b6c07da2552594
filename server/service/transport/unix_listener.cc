#include "server/service/transport/unix_listener.h"

#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>

namespace kp::service {

UnixListener::UnixListener(std::string path, const UnixSocketOptions& options,
                           PeerCredentials& peers)
    : socket_(std::move(path), options), peers_(peers) {}

UnixListener::UnixListener(int fd, std::string path, PeerCredentials& peers)
    : socket_(fd, std::move(path)), peers_(peers) {}

UnixListener::~UnixListener() {
  stop();
}

void UnixListener::start(grpc::Server* server) {
  thread_ = std::thread([this, server] {
    const std::string where = address();
    while (auto connection = socket_.accept(true)) {
      const ucred& peer = connection->peer;
      peers_.remember(connection->fd, {peer.pid, peer.uid, peer.gid, where});
      spdlog::debug("{}: connection from uid {} gid {} pid {}", where, peer.uid, peer.gid,
                    peer.pid);
      grpc::AddInsecureChannelFromFd(server, connection->fd);  // gRPC owns the descriptor now
    }
  });
}

void UnixListener::stop() {
  socket_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace kp::service
