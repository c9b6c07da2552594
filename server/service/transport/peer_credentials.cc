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

// The common name of the call's TLS client certificate, if it has one.
std::optional<std::string> certificateName(const grpc::ServerContextBase& context) {
  const auto auth = context.auth_context();
  if (!auth) return std::nullopt;
  const auto names = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  if (names.empty()) return std::nullopt;
  return std::string(names[0].data(), names[0].size());
}

}  // namespace

std::string unixOwner(uid_t uid) { return "uid " + std::to_string(uid); }

std::string PeerCredentials::owner(const grpc::ServerContextBase& context) const {
  if (auto credential = find(context.peer())) return unixOwner(credential->uid);
  if (auto name = certificateName(context)) return "certificate CN=" + *name;
  return "tcp";
}

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
  if (auto name = certificateName(context)) return peer + " (client certificate CN=" + *name + ")";
  return peer;
}

}  // namespace kp::service
