#include "client-cpp/src/local/local_channel.h"

#include "kp/error.hpp"
#include "client-cpp/src/local/local_frame.h"

namespace kp::detail {
namespace {

// Throws the daemon's error carried by `response`, if any.
void checkCode(const v1::LocalResponse& response) {
  if (response.code() != 0) {
    throwError(static_cast<StatusCode>(response.code()), response.message());
  }
}

}  // namespace

LocalChannel::LocalChannel(std::string path, std::string session)
    : path_(std::move(path)), session_(std::move(session)) {
  idle_.push_back(connect());  // fails here, early, when the socket cannot be used
}

std::unique_ptr<LocalLink> LocalChannel::connect() const {
  auto link = std::make_unique<LocalLink>(path_);
  v1::LocalRequest request;
  request.mutable_attach()->set_session(session_);
  std::string frame;
  writeLocalFrame(request, &frame);
  v1::LocalResponse response;
  link->setReplyTimeout(LocalLink::kAnswerTimeout);
  link->roundTrip(frame, &response);
  link->setReplyTimeout(std::chrono::milliseconds(0));
  checkCode(response);
  return link;
}

void LocalChannel::call(const std::string& frame, v1::LocalResponse* response) {
  std::unique_ptr<LocalLink> link = acquire();
  link->roundTrip(frame, response);  // a LinkError drops the link
  release(std::move(link));
}

std::shared_ptr<SharedArena> LocalChannel::arena(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = arenas_.find(id);
    if (found != arenas_.end()) return found->second;
  }
  v1::LocalRequest request;
  request.mutable_map_arena()->set_arena(id);
  std::string frame;
  writeLocalFrame(request, &frame);
  v1::LocalResponse response;
  std::vector<UniqueFd> fds;
  std::unique_ptr<LocalLink> link = acquire();
  link->setReplyTimeout(LocalLink::kAnswerTimeout);
  link->roundTrip(frame, &response, &fds);
  link->setReplyTimeout(std::chrono::milliseconds(0));
  release(std::move(link));
  checkCode(response);
  if (fds.size() != 1 || !response.has_map_arena()) {
    throw LinkError("the daemon sent no file descriptor for shared-memory arena " +
                    std::to_string(id));
  }
  // The mapping keeps the memory: the descriptor closes when `fds` goes.
  auto mapped = std::make_shared<SharedArena>(id, fds[0].get(), response.map_arena().size());
  std::lock_guard<std::mutex> lock(mutex_);
  return arenas_.emplace(id, std::move(mapped)).first->second;  // another thread's may win
}

void LocalChannel::close() {
  std::vector<std::unique_ptr<LocalLink>> links;
  std::map<uint64_t, std::shared_ptr<SharedArena>> arenas;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    links.swap(idle_);
    arenas.swap(arenas_);
  }
}

std::unique_ptr<LocalLink> LocalChannel::acquire() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) throw LinkError("the session's local data connections were closed");
    if (!idle_.empty()) {
      std::unique_ptr<LocalLink> link = std::move(idle_.back());
      idle_.pop_back();
      return link;
    }
  }
  return connect();
}

void LocalChannel::release(std::unique_ptr<LocalLink> link) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!closed_) idle_.push_back(std::move(link));
}

}  // namespace kp::detail
