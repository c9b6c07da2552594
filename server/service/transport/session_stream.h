// The OpenSession stream: opens a session, sends `opened`, then stays open for the session's
// life. When the client goes away (its process dies, it cancels) the session is ended; when the
// daemon ends the session, the stream sends `closed` and finishes.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "server/base/mutex.h"
#include "server/service/transport/call_gate.h"
#include "kp/v1/compute.pb.h"
#include "server/service/lifecycle/lease_reaper.h"
#include "server/service/lifecycle/session_registry.h"

namespace kp::service {

class SessionStream : public grpc::ServerWriteReactor<v1::SessionEvent> {
 public:
  // `admitted`: the caller's verdict (token, shutdown); if not OK the stream just finishes
  // with it. `peer` names the client in the log; `owner` may use the session
  // (PeerCredentials::owner). `gate`, if set, counts the stream until it is done.
  // `sameHost`: the client connected over a Unix socket (it may use the local data socket).
  SessionStream(SessionRegistry& registry, LeaseReaper& reaper, const v1::OpenSessionRequest* request,
                const grpc::Status& admitted, const std::string& peer, const std::string& owner,
                bool sameHost, CallGate* gate);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // Shared with the session's close listener, which may outlive this reactor.
  struct Link {
    base::Mutex mutex;
    SessionStream* stream KP_GUARDED_BY(mutex) = nullptr;
  };

  void sessionEnded(const std::string& reason);
  void finishWithClosed(const std::string& reason) KP_REQUIRES(mutex_);

  SessionRegistry& registry_;
  LeaseReaper& reaper_;
  CallGate* const gate_;
  std::shared_ptr<Session> session_;
  std::shared_ptr<Link> link_;
  base::Mutex mutex_;
  bool writing_ KP_GUARDED_BY(mutex_) = false;
  bool finished_ KP_GUARDED_BY(mutex_) = false;
  bool cancelled_ KP_GUARDED_BY(mutex_) = false;
  std::optional<std::string> pendingClose_ KP_GUARDED_BY(mutex_);
  v1::SessionEvent opened_;
  v1::SessionEvent closed_;
};

}  // namespace kp::service
