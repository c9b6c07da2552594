#include "server/service/transport/bearer_token.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "server/base/error.h"

namespace kp::service {
namespace {

constexpr const char* kMetadataKey = "authorization";
constexpr const char* kScheme = "bearer ";
constexpr const char* kWhitespace = " \t\r\n";

std::string trimmed(const std::string& text) {
  const size_t first = text.find_first_not_of(kWhitespace);
  if (first == std::string::npos) return "";
  const size_t last = text.find_last_not_of(kWhitespace);
  return text.substr(first, last - first + 1);
}

bool startsWithScheme(const std::string& value) {
  const std::string scheme(kScheme);
  if (value.size() < scheme.size()) return false;
  for (size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != scheme[i]) return false;
  }
  return true;
}

}  // namespace

BearerToken BearerToken::fromFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  KP_REQUIRE(file.good(), base::ErrorCode::kInvalidArgument,
             "--token-file " + path + ": cannot read the file");
  std::ostringstream contents;
  contents << file.rdbuf();
  std::string token = trimmed(contents.str());
  KP_REQUIRE(!token.empty(), base::ErrorCode::kInvalidArgument,
             "--token-file " + path + ": the file holds no token");
  KP_REQUIRE(token.find_first_of(kWhitespace) == std::string::npos,
             base::ErrorCode::kInvalidArgument,
             "--token-file " + path + ": the token must be one word (no spaces or newlines)");
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && (info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    spdlog::warn("--token-file {}: other users may read it (mode {:04o}); chmod 600 it", path,
                 info.st_mode & 07777);
  }
  return BearerToken(std::move(token));
}

BearerToken::BearerToken(std::string token) : token_(std::move(token)) {}

bool BearerToken::matches(const std::string& candidate) const {
  // Every byte of the token is compared whatever the candidate holds, so the time taken says
  // nothing about how much of a guess was right (only the token's length is not secret).
  unsigned char difference = candidate.size() == token_.size() ? 0 : 1;
  for (size_t i = 0; i < token_.size(); ++i) {
    const unsigned char guess = i < candidate.size() ? static_cast<unsigned char>(candidate[i]) : 0;
    difference |= static_cast<unsigned char>(guess ^ static_cast<unsigned char>(token_[i]));
  }
  return difference == 0;
}

grpc::Status BearerToken::check(const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  const auto found = metadata.find(kMetadataKey);
  if (found == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "this kpd requires a token: send the metadata "
                        "'authorization: Bearer <token>' ($KP_TOKEN; or kp.Manager(token=...) in "
                        "Python, ManagerOptions::token in C++)");
  }
  const std::string value(found->second.data(), found->second.size());
  if (!startsWithScheme(value) || !matches(trimmed(value.substr(std::string(kScheme).size())))) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "the 'authorization' metadata does not hold this kpd's bearer token");
  }
  return grpc::Status::OK;
}

}  // namespace kp::service
