#include "server/service/transport/session_stream.h"

#include <spdlog/spdlog.h>

#include "server/service/transport/status.h"

namespace kp::service {

SessionStream::SessionStream(SessionRegistry& registry, LeaseReaper& reaper,
                             const v1::OpenSessionRequest* request, const grpc::Status& admitted,
                             const std::string& peer, const std::string& owner, bool sameHost,
                             CallGate* gate)
    : registry_(registry), reaper_(reaper), gate_(gate) {
  grpc::Status status = admitted;
  if (status.ok()) {
    status = guarded("OpenSession",
                     [&] { session_ = registry_.open(*request, peer, owner, sameHost, opened_.mutable_opened()); });
  }
  if (!status.ok()) {
    finished_ = true;
    Finish(status);
    return;
  }
  link_ = std::make_shared<Link>();
  {
    base::MutexLock lock(link_->mutex);
    link_->stream = this;
  }
  session_->setCloseListener([link = link_](const std::string& reason) {
    base::MutexLock lock(link->mutex);
    if (link->stream) link->stream->sessionEnded(reason);
  });
  base::MutexLock lock(mutex_);
  writing_ = true;
  StartWrite(&opened_);
}

void SessionStream::finishWithClosed(const std::string& reason) {
  finished_ = true;
  if (cancelled_) {
    Finish(grpc::Status::CANCELLED);
    return;
  }
  closed_.mutable_closed()->set_reason(reason);
  StartWriteAndFinish(&closed_, grpc::WriteOptions(), grpc::Status::OK);
}

void SessionStream::sessionEnded(const std::string& reason) {
  base::MutexLock lock(mutex_);
  if (finished_) return;
  if (writing_) {
    pendingClose_ = reason;
    return;
  }
  finishWithClosed(reason);
}

void SessionStream::OnWriteDone(bool ok) {
  base::MutexLock lock(mutex_);
  writing_ = false;
  if (pendingClose_ && !finished_) finishWithClosed(*pendingClose_);
}

void SessionStream::OnCancel() {
  {
    base::MutexLock lock(mutex_);
    cancelled_ = true;
  }
  // The client went away. Ending the session may wait for GPU work: the reaper does it on its
  // own thread, not on gRPC's.
  if (session_) reaper_.endLater(session_->serial(), "the client disconnected");
}

void SessionStream::OnDone() {
  if (link_) {
    base::MutexLock lock(link_->mutex);
    link_->stream = nullptr;
  }
  CallGate* gate = gate_;
  delete this;
  if (gate) gate->streamDone();
}

}  // namespace kp::service
