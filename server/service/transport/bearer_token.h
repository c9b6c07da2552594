// The shared secret of `kpd --token-file`: every kp.v1 call must carry the metadata
// "authorization: Bearer <token>". Compared in constant time.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

namespace kp::service {

class BearerToken {
 public:
  // Reads the token from `path` (surrounding whitespace and the trailing newline are not
  // part of it). Error(kInvalidArgument) naming the file if it cannot be read or is empty.
  // Warns if other users may read the file.
  static BearerToken fromFile(const std::string& path);
  explicit BearerToken(std::string token);

  // OK, or UNAUTHENTICATED saying whether the token was missing or wrong.
  grpc::Status check(const grpc::ServerContextBase& context) const;

  // True if `candidate` equals the token; the time taken does not depend on where they differ.
  bool matches(const std::string& candidate) const;

 private:
  std::string token_;
};

}  // namespace kp::service
