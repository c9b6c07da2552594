#include "server/service/transport/tcp_security.h"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "server/base/error.h"

namespace kp::service {
namespace {

using base::ErrorCode;

std::string readPem(const std::string& flag, const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  KP_REQUIRE(file.good(), ErrorCode::kInvalidArgument,
             flag + " " + path + ": cannot read the file");
  std::ostringstream contents;
  contents << file.rdbuf();
  const std::string pem = contents.str();
  KP_REQUIRE(pem.find("-----BEGIN ") != std::string::npos, ErrorCode::kInvalidArgument,
             flag + " " + path + ": not a PEM file (no -----BEGIN line)");
  return pem;
}

// The host part of "host:port", "[v6]:port", "ipv4:host:port" or "ipv6:[v6]:port".
std::string hostOf(std::string address) {
  for (const char* scheme : {"ipv4:", "ipv6:", "dns:"}) {
    if (address.rfind(scheme, 0) == 0) address = address.substr(std::string(scheme).size());
  }
  if (address.rfind("///", 0) == 0) address = address.substr(3);  // dns:///host:port
  const size_t colon = address.rfind(':');
  std::string host = colon == std::string::npos ? address : address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

bool isLoopbackAddress(const std::string& address) {
  const std::string host = hostOf(address);
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    // ::ffff:127.x.y.z
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

void checkTlsOptions(const TlsOptions& tls) {
  KP_REQUIRE(tls.certFile.empty() == tls.keyFile.empty(), ErrorCode::kInvalidArgument,
             tls.certFile.empty() ? "--tls-key needs --tls-cert (the server certificate)"
                                  : "--tls-cert needs --tls-key (its private key)");
  KP_REQUIRE(tls.clientCaFile.empty() || tls.enabled(), ErrorCode::kInvalidArgument,
             "--tls-client-ca needs --tls-cert and --tls-key: client certificates are "
             "checked only over TLS");
  if (!tls.enabled()) return;
  readPem("--tls-cert", tls.certFile);
  readPem("--tls-key", tls.keyFile);
  if (tls.mutual()) readPem("--tls-client-ca", tls.clientCaFile);
}

std::string describeTcpSecurity(const TlsOptions& tls) {
  if (!tls.enabled()) return "plain TCP";
  return tls.mutual() ? "TLS, client certificates required" : "TLS";
}

std::shared_ptr<grpc::ServerCredentials> tcpCredentials(const std::string& address,
                                                        const TlsOptions& tls, bool insecureTcp) {
  checkTlsOptions(tls);
  if (!tls.enabled()) {
    if (!isLoopbackAddress(address)) {
      KP_REQUIRE(insecureTcp, ErrorCode::kInvalidArgument,
                 "refusing to serve " + address +
                     " without TLS: anyone who reaches it could use the GPU. Give "
                     "--tls-cert and --tls-key (and --tls-client-ca or --token-file), "
                     "listen on 127.0.0.1 / ::1 / localhost, or pass --insecure-tcp");
      spdlog::warn(
          "serving {} over plain TCP (--insecure-tcp): anyone who reaches it can use "
          "the GPU and read or forge every request",
          address);
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions options(
      tls.mutual() ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back(
      {readPem("--tls-key", tls.keyFile), readPem("--tls-cert", tls.certFile)});
  if (tls.mutual()) options.pem_root_certs = readPem("--tls-client-ca", tls.clientCaFile);
  return grpc::SslServerCredentials(options);
}

}  // namespace kp::service
