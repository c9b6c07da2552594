#include "client-cpp/src/security.h"

#include <grpcpp/support/client_interceptor.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "kp/error.hpp"

namespace kp::detail {
namespace {

namespace gx = grpc::experimental;

constexpr const char* kWhitespace = " \t\r\n\f\v";

[[noreturn]] void invalid(const std::string& message) {
  throw InvalidArgumentError(StatusCode::kInvalidArgument, message);
}

std::string trimmed(const std::string& text) {
  const size_t first = text.find_first_not_of(kWhitespace);
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(kWhitespace) - first + 1);
}

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

bool startsWith(const std::string& text, const char* prefix) {
  return text.rfind(prefix, 0) == 0;
}

// The contents of the file at `path`; InvalidArgumentError naming `what` and the file.
std::string readFile(const std::string& what, const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) invalid(what + ": cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) invalid(what + ": cannot read " + path);
  return contents.str();
}

// A PEM setting and where it came from ("ManagerOptions::tlsCa" or "$KP_TLS_CA").
struct PemSetting {
  std::string value;  // a file path, or the PEM text itself; empty: not set
  std::string what;

  bool given() const { return !value.empty(); }
  // The PEM text: the value itself when it is PEM, else the file it names.
  std::string read() const {
    if (!given()) return "";
    if (startsWith(value, "-----BEGIN")) return value;
    return readFile(what, value);
  }
};

// A bearer token and where it came from.
struct TokenSetting {
  std::string token;  // empty: none
  std::string origin;
};

// The token of `options`, else $KP_TOKEN, else the contents of $KP_TOKEN_FILE, checked to
// be one word; none when none is set.
TokenSetting resolveToken(const ManagerOptions& options) {
  TokenSetting setting{options.token, "ManagerOptions::token"};
  if (setting.token.empty()) {
    setting = {trimmed(environment(kEnvToken)), std::string("$") + kEnvToken};
  }
  if (setting.token.empty()) {
    const std::string path = environment(kEnvTokenFile);
    if (path.empty()) return {};
    setting = {trimmed(readFile(std::string("$") + kEnvTokenFile, path)),
               std::string("$") + kEnvTokenFile + " (" + path + ")"};
    if (setting.token.empty()) return {};
  }
  setting.token = trimmed(setting.token);
  if (setting.token.empty() || setting.token.find_first_of(kWhitespace) != std::string::npos) {
    invalid(setting.origin + ": the token must be one non-empty word (no spaces or newlines)");
  }
  return setting;
}

// Adds "authorization: Bearer <token>" to the metadata of the call it intercepts.
class BearerTokenInterceptor : public gx::Interceptor {
 public:
  explicit BearerTokenInterceptor(std::shared_ptr<const std::string> value)
      : value_(std::move(value)) {}

  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            gx::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", *value_);
    }
    methods->Proceed();
  }

 private:
  std::shared_ptr<const std::string> value_;
};

class BearerTokenInterceptorFactory : public gx::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenInterceptorFactory(const std::string& token)
      : value_(std::make_shared<const std::string>("Bearer " + token)) {}

  gx::Interceptor* CreateClientInterceptor(gx::ClientRpcInfo* /*info*/) override {
    // gRPC's interface: the call takes ownership of the interceptor and deletes it.
    return std::make_unique<BearerTokenInterceptor>(value_).release();
  }

 private:
  std::shared_ptr<const std::string> value_;
};

bool containsAny(const std::string& text, std::initializer_list<const char*> words) {
  return std::any_of(words.begin(), words.end(),
                     [&](const char* word) { return text.find(word) != std::string::npos; });
}

}  // namespace

Security::Security(const std::string& address, const ManagerOptions& options) {
  TokenSetting token = resolveToken(options);
  token_ = std::move(token.token);
  tokenOrigin_ = std::move(token.origin);
  const bool unix = startsWith(address, "unix:");
  const bool explicitTls = startsWith(address, kTlsPrefix);
  PemSetting ca{options.tlsCa, "ManagerOptions::tlsCa"};
  PemSetting cert{options.tlsCert, "ManagerOptions::tlsCert"};
  PemSetting key{options.tlsKey, "ManagerOptions::tlsKey"};
  const bool given = ca.given() || cert.given() || key.given();
  if (unix && given) {
    invalid("ManagerOptions::tlsCa / tlsCert / tlsKey: " + address +
            " is a Unix socket, which kpd serves without TLS (file permissions protect it)");
  }
  if (!unix && !given) {
    ca = {environment(kEnvTlsCa), std::string("$") + kEnvTlsCa};
    cert = {environment(kEnvTlsCert), std::string("$") + kEnvTlsCert};
    key = {environment(kEnvTlsKey), std::string("$") + kEnvTlsKey};
  }
  if (cert.given() != key.given()) {
    invalid(cert.what + " and " + key.what +
            ": give both (the client certificate and its key) or neither");
  }
  target_ = explicitTls ? address.substr(std::strlen(kTlsPrefix)) : address;
  tls_ = !unix && (explicitTls || ca.given() || cert.given());
  rootCertificates_ = ca.read();
  certificateChain_ = cert.read();
  privateKey_ = key.read();
}

std::shared_ptr<grpc::Channel> Security::channel(const grpc::ChannelArguments& arguments) const {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (tls_) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = rootCertificates_;
    ssl.pem_cert_chain = certificateChain_;
    ssl.pem_private_key = privateKey_;
    credentials = grpc::SslCredentials(ssl);
  }
  if (token_.empty()) return grpc::CreateCustomChannel(target_, credentials, arguments);
  // gRPC sends call credentials on secure channels only; an interceptor adds the token to
  // every call whatever the transport (kpd wants it on Unix sockets too).
  std::vector<std::unique_ptr<gx::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<BearerTokenInterceptorFactory>(token_));
  return gx::CreateCustomChannelWithInterceptors(target_, credentials, arguments,
                                                 std::move(interceptors));
}

grpc::Status Security::explain(const grpc::Status& status) const {
  const std::string added = hint(status.error_code(), status.error_message());
  if (added.empty()) return status;
  return grpc::Status(status.error_code(), status.error_message() + added);
}

std::string Security::hint(grpc::StatusCode code, const std::string& details) const {
  if (code == grpc::StatusCode::UNAUTHENTICATED) {
    if (token_.empty()) {
      return " (this client sent no token: set ManagerOptions::token, $KP_TOKEN or "
             "$KP_TOKEN_FILE)";
    }
    return " (the token this client sent came from " + tokenOrigin_ + ")";
  }
  if (code != grpc::StatusCode::UNAVAILABLE) return "";
  std::string lowered = details;
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (tls_ && containsAny(lowered, {"ssl", "handshake", "certificate", "tsi"})) {
    return " (the TLS handshake failed: is ManagerOptions::tlsCa ($KP_TLS_CA) the CA that "
           "signed kpd's certificate, is the address a name or IP the certificate holds, and "
           "does kpd require a client certificate (tlsCert, tlsKey)?)";
  }
  if (tls_ && containsAny(lowered, {"socket closed", "connection reset", "end of file"})) {
    return " (kpd closed the TLS connection: does it require a client certificate "
           "(ManagerOptions::tlsCert, tlsKey) signed by its --tls-client-ca?)";
  }
  if (!tls_ && !startsWith(target_, "unix:") && containsAny(lowered, {"socket closed"})) {
    return " (does kpd serve TLS on this port? then use a tls: address or "
           "ManagerOptions::tlsCa)";
  }
  return "";
}

}  // namespace kp::detail
