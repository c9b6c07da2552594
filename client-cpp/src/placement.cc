#include "client-cpp/src/placement.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <thread>
#include <utility>

#include "client-cpp/src/security.h"
#include "client-cpp/src/session.h"
#include "kp/error.hpp"

namespace kp::detail::placement {
namespace {

std::string trimmed(const std::string& text) {
  const char* blanks = " \t\r\n\f\v";
  const size_t first = text.find_first_not_of(blanks);
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(blanks) - first + 1);
}

bool startsWith(const std::string& text, const char* prefix) {
  return text.rfind(prefix, 0) == 0;
}

void addOnce(std::vector<std::string>* list, const std::string& item) {
  if (std::find(list->begin(), list->end(), item) == list->end()) list->push_back(item);
}

// The skipped daemons and why, in the order they were first skipped (a later reason for the
// same daemon replaces the earlier one in place).
class Skipped {
 public:
  void set(const std::string& address, std::string why) {
    for (auto& entry : entries_) {
      if (entry.first == address) {
        entry.second = std::move(why);
        return;
      }
    }
    entries_.emplace_back(address, std::move(why));
  }
  std::string describe() const {
    std::string text;
    for (const auto& [address, why] : entries_) {
      if (!text.empty()) text += "; ";
      text += address + ": " + why;
    }
    return text;
  }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

}  // namespace

std::vector<std::string> resolveWithGetaddrinfo(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int error = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (error != 0) {
    throw UnavailableError(StatusCode::kUnavailable, "cannot resolve " + host + " (" + kDnsPrefix +
                                                         host + ":" + port +
                                                         "): " + gai_strerror(error));
  }
  std::vector<std::string> targets;
  for (const addrinfo* info = found; info != nullptr; info = info->ai_next) {
    char ip[INET6_ADDRSTRLEN] = {};
    if (info->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(info->ai_addr)->sin_addr, ip,
                sizeof(ip));
      addOnce(&targets, std::string(ip) + ":" + port);
    } else if (info->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(info->ai_addr)->sin6_addr, ip,
                sizeof(ip));
      addOnce(&targets, "[" + std::string(ip) + "]:" + port);
    }
  }
  freeaddrinfo(found);
  return targets;
}

bool isFleet(const std::string& address) {
  return address.find(',') != std::string::npos || startsWith(address, kDnsPrefix);
}

std::vector<std::string> expandDns(const std::string& entry, const Resolver& resolve) {
  std::string rest = entry.substr(std::char_traits<char>::length(kDnsPrefix));
  rest.erase(0, rest.find_first_not_of('/'));
  const size_t colon = rest.rfind(':');
  const std::string host = colon == std::string::npos ? "" : rest.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : rest.substr(colon + 1);
  const bool numeric = !port.empty() && std::all_of(port.begin(), port.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
  if (host.empty() || !numeric) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument,
                               "address: '" + entry + "' is not dns:NAME:PORT");
  }
  std::vector<std::string> targets;
  for (const std::string& target : resolve(host, port)) addOnce(&targets, target);
  return targets;
}

std::vector<std::string> splitAddresses(const std::vector<std::string>& entries,
                                        const Resolver& resolve) {
  std::vector<std::string> expanded;
  for (const std::string& entry : entries) {
    size_t start = 0;
    while (start <= entry.size()) {
      size_t comma = entry.find(',', start);
      if (comma == std::string::npos) comma = entry.size();
      const std::string part = trimmed(entry.substr(start, comma - start));
      start = comma + 1;
      if (part.empty()) continue;
      if (startsWith(part, kDnsPrefix)) {
        for (const std::string& target : expandDns(part, resolve)) addOnce(&expanded, target);
      } else {
        addOnce(&expanded, part);
      }
    }
  }
  return expanded;
}

std::string Request::describe() const {
  std::vector<std::string> parts;
  if (device) parts.push_back("device " + std::to_string(*device));
  if (!deviceType.empty()) parts.push_back("type " + deviceType);
  if (memoryBytes > 0) parts.push_back(std::to_string(memoryBytes) + " bytes free");
  std::string text;
  for (const std::string& part : parts) text += (text.empty() ? "" : ", ") + part;
  return text;
}

double headroom(const v1::DeviceLoad& device) {
  return static_cast<double>(device.memory_free_bytes()) / (device.sessions() + 1.0) *
         (1.0 - 0.5 * device.busy_fraction());
}

std::vector<Candidate> candidatesOf(const std::string& address, const v1::GetLoadResponse& load,
                                    const Request& request, std::string* why) {
  why->clear();
  if (load.draining()) {
    *why = "shutting down";
    return {};
  }
  if (load.sessions_free() == 0) {
    *why = "no session free (--max-sessions)";
    return {};
  }
  std::vector<Candidate> fits;
  std::vector<std::string> reasons;
  for (const v1::DeviceLoad& d : load.devices()) {
    const std::string name = "device " + std::to_string(d.device());
    if (request.device && d.device() != *request.device) continue;
    if (!d.available()) {
      reasons.push_back(name + " unavailable");
    } else if (!request.deviceType.empty() && d.type() != request.deviceType) {
      reasons.push_back(name + " is " + d.type());
    } else if (d.memory_free_bytes() < request.memoryBytes) {
      reasons.push_back(name + " has " + std::to_string(d.memory_free_bytes()) + " bytes free");
    } else {
      fits.push_back(Candidate{address, d.device(), std::max(headroom(d), 1.0)});
    }
  }
  if (fits.empty() && reasons.empty()) {
    reasons.push_back(request.device ? "no device " + std::to_string(*request.device)
                                     : std::string("no device"));
  }
  if (fits.empty()) {
    for (const std::string& reason : reasons) *why += (why->empty() ? "" : "; ") + reason;
  }
  return fits;
}

std::vector<Candidate> weightedOrder(std::vector<Candidate> candidates, Engine& engine) {
  std::vector<Candidate> ordered;
  ordered.reserve(candidates.size());
  while (!candidates.empty()) {
    double total = 0;
    for (const Candidate& c : candidates) total += c.headroom;
    double pick = std::uniform_real_distribution<double>(0.0, total)(engine);
    for (size_t i = 0; i < candidates.size(); ++i) {
      pick -= candidates[i].headroom;
      if (pick <= 0 || i + 1 == candidates.size()) {
        ordered.push_back(std::move(candidates[i]));
        candidates.erase(candidates.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
  }
  return ordered;
}

v1::GetLoadResponse loadOf(const Security& security, std::chrono::milliseconds timeout) {
  // A subchannel of its own: gRPC shares connections among channels to the same target, and
  // one to a daemon that died (kept by the program's dead session) waits out its reconnect
  // backoff, which would hold this call for seconds instead of failing it at once.
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::unique_ptr<v1::Compute::Stub> stub = v1::Compute::NewStub(security.channel(arguments));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  v1::GetLoadResponse response;
  const grpc::Status status = stub->GetLoad(&context, v1::GetLoadRequest(), &response);
  if (!status.ok()) {
    throw UnavailableError(
        StatusCode::kUnavailable,
        std::string(statusCodeName(static_cast<StatusCode>(status.error_code()))) + ": " +
            status.error_message());
  }
  return response;
}

std::shared_ptr<Session> place(std::vector<std::string> addresses, const LoadOf& loadOf,
                               const OpenSession& openSession, const Request& request,
                               Engine& engine) {
  if (addresses.empty()) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument, "address: no daemon given");
  }
  if (addresses.size() > kMaxAsked) {
    std::shuffle(addresses.begin(), addresses.end(), engine);
    addresses.resize(kMaxAsked);
  }

  // Every daemon at once; each answer bounded by loadOf's own deadline.
  struct Answer {
    std::optional<v1::GetLoadResponse> load;
    std::string error;
  };
  std::vector<Answer> answers(addresses.size());
  std::vector<std::thread> askers;
  askers.reserve(addresses.size());
  for (size_t i = 0; i < addresses.size(); ++i) {
    askers.emplace_back([&, i] {
      try {
        answers[i].load = loadOf(addresses[i]);
      } catch (const std::exception& error) {
        answers[i].error = error.what();
      }
    });
  }
  for (std::thread& asker : askers) asker.join();

  Skipped skipped;
  std::vector<Candidate> candidates;
  for (size_t i = 0; i < addresses.size(); ++i) {
    if (!answers[i].load) {
      skipped.set(addresses[i], "unreachable (" + answers[i].error + ")");
      continue;
    }
    std::string why;
    std::vector<Candidate> fits = candidatesOf(addresses[i], *answers[i].load, request, &why);
    if (fits.empty()) skipped.set(addresses[i], why);
    candidates.insert(candidates.end(), fits.begin(), fits.end());
  }
  for (const Candidate& candidate : weightedOrder(std::move(candidates), engine)) {
    try {
      return openSession(candidate.address, candidate.device);
    } catch (const UnavailableError& error) {
      skipped.set(candidate.address, std::string("refused the session (") + error.what() + ")");
    } catch (const ResourceExhaustedError& error) {
      skipped.set(candidate.address, std::string("refused the session (") + error.what() + ")");
    }
  }
  const std::string wanted = request.describe();
  throw UnavailableError(StatusCode::kUnavailable,
                         "no daemon could take the session" +
                             (wanted.empty() ? std::string() : " (" + wanted + ")") + ": " +
                             skipped.describe());
}

}  // namespace kp::detail::placement
