#include "client-cpp/src/session.h"

#include <unistd.h>

#include "kp/error.hpp"

#ifndef KP_CLIENT_VERSION
#define KP_CLIENT_VERSION "0"
#endif

namespace kp::detail {

std::shared_ptr<grpc::Channel> makeChannel(const Security& security) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxSendMessageSize(-1);
  arguments.SetMaxReceiveMessageSize(-1);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20'000);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  arguments.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  return security.channel(arguments);
}

Session::Session(Token, std::string address, Security security)
    : address_(std::move(address)),
      security_(std::move(security)),
      channel_(makeChannel(security_)),
      stub_(v1::Compute::NewStub(channel_)) {}

std::shared_ptr<Session> Session::open(const std::string& address, Security security,
                                       uint32_t device, const std::vector<uint32_t>& queueFamilies,
                                       bool sharedMemory) {
  auto session = std::make_shared<Session>(Token{}, address, std::move(security));
  v1::OpenSessionRequest request;
  request.set_device(device);
  for (uint32_t family : queueFamilies) request.add_queue_families(family);
  request.set_client_name("c++ kp_client " KP_CLIENT_VERSION " pid " + std::to_string(getpid()));
  session->watcher_ = std::thread(&Session::watch, session.get(), std::move(request));

  std::unique_lock<std::mutex> lock(session->mutex_);
  const bool answered = session->stateChanged_.wait_for(
      lock, kConnectTimeout, [&] { return session->state_ != State::kConnecting; });
  if (answered && session->state_ == State::kOpen) {
    lock.unlock();
    if (sharedMemory && !session->dataSocket_.empty()) {
      try {
        session->local_ = std::make_unique<LocalChannel>(session->dataSocket_, session->id_);
      } catch (const std::exception&) {
        // The data socket cannot be used from here (e.g. another mount namespace): gRPC alone.
      }
    }
    return session;
  }

  grpc::Status failure = session->failure_;
  session->closedByClient_ = true;
  lock.unlock();
  session->streamContext_.TryCancel();
  session->watcher_.join();
  if (!answered) {
    throw UnavailableError(StatusCode::kUnavailable,
                           "cannot reach kpd at " + address + ": no answer within " +
                               std::to_string(kConnectTimeout.count()) + " s");
  }
  throwStatus(session->security_.explain(failure), address, "");
}

void Session::watch(v1::OpenSessionRequest request) {
  std::unique_ptr<grpc::ClientReader<v1::SessionEvent>> reader =
      stub_->OpenSession(&streamContext_, request);
  v1::SessionEvent event;
  bool first = true;
  std::string reason;
  while (reader->Read(&event)) {
    if (first) {
      first = false;
      std::lock_guard<std::mutex> lock(mutex_);
      if (event.has_opened()) {
        id_ = event.opened().session();
        device_ = event.opened().device();
        leaseSeconds_ = event.opened().lease_seconds();
        dataSocket_ = event.opened().data_socket();
        maxMessageBytes_ = event.opened().max_message_bytes();
        state_ = State::kOpen;
      } else {
        state_ = State::kFailed;
        failure_ = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "kpd sent an unexpected first message on the session stream");
      }
      stateChanged_.notify_all();
      if (state_ == State::kFailed) break;
      continue;
    }
    if (event.has_closed()) reason = event.closed().reason();
  }
  grpc::Status status = reader->Finish();

  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kConnecting) {
    state_ = State::kFailed;
    failure_ = status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                          "kpd closed the session stream at once")
                           : status;
    stateChanged_.notify_all();
    return;
  }
  if (reason.empty()) {
    if (closedByClient_) {
      reason = "closed by the client";
    } else if (status.ok()) {
      reason = "the session stream ended";
    } else {
      reason = std::string("connection to kpd lost (") +
               statusCodeName(static_cast<StatusCode>(status.error_code())) + ": " +
               status.error_message() + ")";
    }
  }
  if (closedReason_.empty()) closedReason_ = reason;
}

Session::~Session() {
  close();
}

bool Session::isOpen() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !closedByClient_ && closedReason_.empty();
}

std::string Session::closedReason() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return closedReason_;
}

void Session::close() noexcept {
  bool wasOpen = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closedByClient_) return;
    closedByClient_ = true;
    wasOpen = closedReason_.empty();
  }
  if (wasOpen) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kCleanupTimeout);
    v1::CloseSessionRequest request;
    request.set_session(id_);
    v1::CloseSessionResponse response;
    stub_->CloseSession(&context, request, &response);  // best effort: the stream ends it too
  }
  if (local_) local_->close();
  streamContext_.TryCancel();
  if (watcher_.joinable()) watcher_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  if (closedReason_.empty()) closedReason_ = "closed by the client";
}

void Session::requireNotClosedByClient() const {
  if (closedByClient_) {
    throw UnavailableError(StatusCode::kUnavailable,
                           "the Manager was destroyed: create a new kp::Manager");
  }
}

void Session::failed(const grpc::Status& status) const {
  std::string reason;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE && closedReason_.empty()) {
      // The daemon went away: the session, and everything in it, is gone.
      closedReason_ = "connection to kpd lost (" + status.error_message() + ")";
    }
    reason = closedReason_;
  }
  throwStatus(status, address_, reason);
}

void Session::callLocal(const std::string& frame, v1::LocalResponse* response) const {
  requireNotClosedByClient();
  try {
    local_->call(frame, response);
  } catch (const LinkError& error) {
    localFailed(error);
  }
  if (response->code() != 0) {
    failed(grpc::Status(static_cast<grpc::StatusCode>(response->code()), response->message()));
  }
}

std::shared_ptr<SharedArena> Session::arena(uint64_t id) const {
  requireNotClosedByClient();
  try {
    return local_->arena(id);
  } catch (const LinkError& error) {
    localFailed(error);
  }
}

void Session::localFailed(const LinkError& error) const {
  failed(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "local data socket " + local_->path() + ": " + error.what()));
}

}  // namespace kp::detail
