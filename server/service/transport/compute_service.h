// kp.v1.Compute: each RPC finds its session and hands the request to it. OpenSession is a
// callback-API stream (SessionStream); every other method is synchronous. Every RPC first
// passes the bearer token check (when kpd has a token) and the shutdown gate.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <utility>

#include "kp/v1/compute.grpc.pb.h"
#include "server/service/devices/device_pool.h"
#include "server/service/lifecycle/lease_reaper.h"
#include "server/service/lifecycle/retirement.h"
#include "server/service/lifecycle/session_registry.h"
#include "server/service/transport/bearer_token.h"
#include "server/service/transport/call_gate.h"
#include "server/service/transport/local_channel.h"
#include "server/service/transport/peer_credentials.h"
#include "server/service/transport/status.h"

namespace kp::service {

class ComputeService final
    : public v1::Compute::WithCallbackMethod_OpenSession<v1::Compute::Service> {
 public:
  // `gate` admits calls until shutdown; `peers` names callers in the log; `token`, if set,
  // must come with every call (else UNAUTHENTICATED).
  ComputeService(DevicePool& pool, SessionRegistry& registry, LeaseReaper& reaper,
                 const Retirement& retirement, CallGate& gate, const PeerCredentials& peers,
                 std::optional<BearerToken> token);

  // The local data socket whose connections GetStatus counts (null: none). Set by Server once
  // the socket exists, and cleared before it goes.
  void setLocalChannel(const LocalChannel* local) { local_.store(local); }

  grpc::ServerWriteReactor<v1::SessionEvent>* OpenSession(
      grpc::CallbackServerContext* context, const v1::OpenSessionRequest* request) override;

  grpc::Status ListDevices(grpc::ServerContext*, const v1::ListDevicesRequest*,
                           v1::ListDevicesResponse*) override;
  grpc::Status CloseSession(grpc::ServerContext*, const v1::CloseSessionRequest*,
                            v1::CloseSessionResponse*) override;
  grpc::Status CreateTensor(grpc::ServerContext*, const v1::CreateTensorRequest*,
                            v1::CreateTensorResponse*) override;
  grpc::Status DestroyTensor(grpc::ServerContext*, const v1::DestroyTensorRequest*,
                             v1::DestroyTensorResponse*) override;
  grpc::Status ReadTensor(grpc::ServerContext*, const v1::ReadTensorRequest*,
                          v1::ReadTensorResponse*) override;
  grpc::Status WriteTensor(grpc::ServerContext*, const v1::WriteTensorRequest*,
                           v1::WriteTensorResponse*) override;
  grpc::Status WriteTensorStream(grpc::ServerContext*, grpc::ServerReader<v1::TensorChunk>*,
                                 v1::WriteTensorResponse*) override;
  grpc::Status ReadTensorStream(grpc::ServerContext*, const v1::ReadTensorStreamRequest*,
                                grpc::ServerWriter<v1::TensorChunk>*) override;
  grpc::Status CreateAlgorithm(grpc::ServerContext*, const v1::CreateAlgorithmRequest*,
                               v1::CreateAlgorithmResponse*) override;
  grpc::Status DestroyAlgorithm(grpc::ServerContext*, const v1::DestroyAlgorithmRequest*,
                                v1::DestroyAlgorithmResponse*) override;
  grpc::Status CreateSequence(grpc::ServerContext*, const v1::CreateSequenceRequest*,
                              v1::CreateSequenceResponse*) override;
  grpc::Status DestroySequence(grpc::ServerContext*, const v1::DestroySequenceRequest*,
                               v1::DestroySequenceResponse*) override;
  grpc::Status RecordSequence(grpc::ServerContext*, const v1::RecordSequenceRequest*,
                              v1::RecordSequenceResponse*) override;
  grpc::Status Apply(grpc::ServerContext*, const v1::ApplyRequest*, v1::ApplyResponse*) override;
  grpc::Status Eval(grpc::ServerContext*, const v1::EvalRequest*, v1::EvalResponse*) override;
  grpc::Status EvalAsync(grpc::ServerContext*, const v1::EvalRequest*,
                         v1::EvalAsyncResponse*) override;
  grpc::Status EvalAwait(grpc::ServerContext*, const v1::EvalAwaitRequest*,
                         v1::EvalResponse*) override;
  grpc::Status CompileShader(grpc::ServerContext*, const v1::CompileShaderRequest*,
                             v1::CompileShaderResponse*) override;
  grpc::Status GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                         v1::GetStatusResponse*) override;
  grpc::Status ListSessions(grpc::ServerContext*, const v1::ListSessionsRequest*,
                            v1::ListSessionsResponse*) override;
  // Answered while kpd drains too (draining = true), so that clients choosing a daemon see why
  // not this one.
  grpc::Status GetLoad(grpc::ServerContext*, const v1::GetLoadRequest*,
                       v1::GetLoadResponse*) override;

 private:
  // The session `id` of the call's owner (PeerCredentials::owner); NOT_FOUND otherwise.
  std::shared_ptr<Session> find(const grpc::ServerContextBase* context, const std::string& id);
  // Charges the downloads of evaluation reply `response` to `session` until gRPC has sent it
  // (Session::holdReply).
  void holdUntilSent(grpc::ServerContext* context, Session& session,
                     const v1::EvalResponse& response, const char* rpc);

  // OK, or UNAUTHENTICATED when a token is required and the call lacks it.
  grpc::Status authenticate(const grpc::ServerContextBase& context) const;
  static grpc::Status shuttingDown();

  // Runs an RPC's body: checks the token, refuses once the daemon is shutting down (the call
  // is counted by CallCounterFactory until its reply is sent), and maps errors to statuses.
  // `whileDraining`: answer even once the daemon is shutting down (a report, no new work).
  template <typename F>
  grpc::Status serve(grpc::ServerContext* context, const char* rpc, F&& body,
                     bool whileDraining = false) {
    grpc::Status admitted = authenticate(*context);
    if (!admitted.ok()) return admitted;
    if (!whileDraining && gate_.draining()) return shuttingDown();
    std::string kind;
    grpc::Status status = guarded(rpc, std::forward<F>(body), &kind);
    if (!kind.empty()) context->AddTrailingMetadata(kErrorKindKey, kind);
    return status;
  }

  DevicePool& pool_;
  SessionRegistry& registry_;
  LeaseReaper& reaper_;
  const Retirement& retirement_;
  CallGate& gate_;
  std::atomic<const LocalChannel*> local_{nullptr};
  const PeerCredentials& peers_;
  const std::optional<BearerToken> token_;
  const std::chrono::steady_clock::time_point started_;  // for GetStatus.uptime_seconds
};

}  // namespace kp::service
