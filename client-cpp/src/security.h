// kp::detail::Security: how the client proves itself to kpd and checks kpd (TLS and the bearer
// token), as the Python client's kp._security. See kp::ManagerOptions for the rules.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "kp/manager_options.hpp"

namespace kp::detail {

/// The environment variables, the same as the Python client's.
inline constexpr const char* kEnvToken = "KP_TOKEN";
inline constexpr const char* kEnvTokenFile = "KP_TOKEN_FILE";
inline constexpr const char* kEnvTlsCa = "KP_TLS_CA";
inline constexpr const char* kEnvTlsCert = "KP_TLS_CERT";
inline constexpr const char* kEnvTlsKey = "KP_TLS_KEY";
/// The address prefix that asks for TLS ("tls:host:port").
inline constexpr const char* kTlsPrefix = "tls:";

/// The channel credentials and call metadata of one Manager (or one compileSource call).
class Security {
 public:
  /// For the resolved `address` (see resolveAddress) with the token and TLS settings of
  /// `options`, the environment filling in what they leave empty. Reads the PEM files now:
  /// InvalidArgumentError naming the option or variable and the file when one cannot be
  /// read, for TLS options on a Unix socket, for a certificate without its key (or the
  /// reverse), and for a token that is not one word.
  Security(const std::string& address, const ManagerOptions& options);

  /// A channel to the address (without its "tls:" prefix) with `arguments`: TLS credentials
  /// when TLS applies, and, with a token,
  /// an interceptor that adds "authorization: Bearer <token>" to every call made on it.
  std::shared_ptr<grpc::Channel> channel(const grpc::ChannelArguments& arguments) const;

  /// `status` (a failed call) with a hint appended to kpd's message: for UNAVAILABLE when TLS
  /// is the likely cause, for UNAUTHENTICATED where this client's token came from (or that it
  /// had none). Other statuses are returned as they are.
  grpc::Status explain(const grpc::Status& status) const;

 private:
  // The hint explain() appends; empty for none.
  std::string hint(grpc::StatusCode code, const std::string& details) const;

  std::string target_;  // the gRPC target: the address without its "tls:" prefix
  bool tls_ = false;
  std::string token_;
  std::string tokenOrigin_;       // "ManagerOptions::token", "$KP_TOKEN", "$KP_TOKEN_FILE (path)"
  std::string rootCertificates_;  // empty: the system's CAs
  std::string certificateChain_;  // empty: no client certificate
  std::string privateKey_;
};

}  // namespace kp::detail
