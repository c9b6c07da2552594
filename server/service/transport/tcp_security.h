// How kpd protects its TCP ports: TLS with a server certificate, optionally requiring client
// certificates signed by a given CA (mTLS). Plain TCP is allowed on loopback addresses only,
// unless forced (--insecure-tcp), because anyone who can reach the port can use the GPU.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace kp::service {

struct TlsOptions {
  std::string certFile;      // PEM server certificate (chain); empty: no TLS
  std::string keyFile;       // PEM private key of certFile
  std::string clientCaFile;  // PEM CA(s) that sign client certificates; empty: no mTLS

  bool enabled() const { return !certFile.empty(); }
  bool mutual() const { return !clientCaFile.empty(); }
};

// True for TCP addresses bound to the loopback interface only: 127.0.0.0/8, ::1, localhost.
// "0.0.0.0:1", "[::]:1", ":1" or any other host name are not.
bool isLoopbackAddress(const std::string& address);

// The credentials of every TCP port. Checks the options first: Error(kInvalidArgument) for a
// key without a certificate (or the reverse), a client CA without TLS, or a file that cannot
// be read. Without TLS, Error(kInvalidArgument) naming `address` if it is not loopback and
// `insecureTcp` is false; with it, a warning.
std::shared_ptr<grpc::ServerCredentials> tcpCredentials(const std::string& address,
                                                        const TlsOptions& tls, bool insecureTcp);

// Throws Error(kInvalidArgument) if the TLS options are inconsistent or unreadable.
void checkTlsOptions(const TlsOptions& tls);

// "TLS", "TLS, client certificates required" or "plain TCP": for the log.
std::string describeTcpSecurity(const TlsOptions& tls);

}  // namespace kp::service
