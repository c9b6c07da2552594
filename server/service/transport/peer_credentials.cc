#include "server/service/transport/peer_credentials.h"

#include <grpc/grpc_security_constants.h>

#include <cstdlib>

namespace kp::service {
namespace {

constexpr const char* kFdPrefix = "fd:";

// The descriptor number of a peer string "fd:N", or -1.
int fdOf(const std::string& peer) {
  if (peer.rfind(kFdPrefix, 0) != 0) return -1;
  const std::string digits = peer.substr(std::string(kFdPrefix).size());
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::atoi(digits.c_str());
}

}  // namespace

void PeerCredentials::remember(int fd, const PeerCredential& credential) {
  base::MutexLock lock(mutex_);
  byFd_[fd] = credential;
}

std::optional<PeerCredential> PeerCredentials::find(const std::string& peer) const {
  const int fd = fdOf(peer);
  if (fd < 0) return std::nullopt;
  base::MutexLock lock(mutex_);
  auto found = byFd_.find(fd);
  if (found == byFd_.end()) return std::nullopt;
  return found->second;
}

std::string PeerCredentials::describe(const grpc::ServerContextBase& context) const {
  const std::string peer = context.peer();
  if (auto credential = find(peer)) {
    return "uid " + std::to_string(credential->uid) + " gid " + std::to_string(credential->gid) +
           " pid " + std::to_string(credential->pid) + " on " + credential->address;
  }
  std::string description = peer;
  const auto auth = context.auth_context();
  if (auth) {
    const auto names = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
    if (!names.empty()) {
      description +=
          " (client certificate CN=" + std::string(names[0].data(), names[0].size()) + ")";
    }
  }
  return description;
}

}  // namespace kp::service
