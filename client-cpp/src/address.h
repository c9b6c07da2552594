// Where the client finds kpd.
#pragma once

#include <string>
#include <vector>

namespace kp::detail {

/// The daemon's default sockets, in the order the client tries them:
/// $XDG_RUNTIME_DIR/kp/kpd.sock (when the variable is set), then /run/kp/kpd.sock.
std::vector<std::string> defaultSocketPaths();

/// The gRPC target to connect to. `address` wins when not empty, then $KP_ADDRESS, then the
/// first default socket that exists (else the last one). A bare path ("/x", "./x") becomes
/// "unix:" + its absolute path; anything else ("unix:...", "host:port") is kept.
std::string resolveAddress(const std::string& address);

}  // namespace kp::detail
