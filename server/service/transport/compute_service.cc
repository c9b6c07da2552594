#include "server/service/transport/compute_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "server/service/session/convert.h"
#include "server/service/transport/session_stream.h"
#include "server/service/transport/status.h"
#include "server/service/transport/tensor_streams.h"

namespace kp::service {
ComputeService::ComputeService(DevicePool& pool, SessionRegistry& registry, LeaseReaper& reaper,
                               const Retirement& retirement, CallGate& gate,
                               const PeerCredentials& peers, std::optional<BearerToken> token)
    : pool_(pool),
      registry_(registry),
      reaper_(reaper),
      retirement_(retirement),
      gate_(gate),
      peers_(peers),
      token_(std::move(token)),
      started_(std::chrono::steady_clock::now()) {}

grpc::Status ComputeService::authenticate(const grpc::ServerContextBase& context) const {
  if (!token_) return grpc::Status::OK;
  grpc::Status status = token_->check(context);
  if (!status.ok()) {
    spdlog::warn("refused a call from {}: {}", peers_.describe(context), status.error_message());
  }
  return status;
}

std::shared_ptr<Session> ComputeService::find(const grpc::ServerContextBase* context,
                                              const std::string& id) {
  return registry_.find(id, peers_.owner(*context));
}

void ComputeService::holdUntilSent(grpc::ServerContext* context, Session& session,
                                   const v1::EvalResponse& response, const char* rpc) {
  // What makes an evaluation's reply large is its downloads; most replies have none.
  uint64_t bytes = 0;
  for (const v1::TensorData& download : response.downloads()) bytes += download.data().size();
  if (bytes == 0) return;
  gate_.keepUntilCallEnds(static_cast<grpc::ServerContextBase*>(context),
                          session.holdReply(bytes, rpc));
}

grpc::Status ComputeService::shuttingDown() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "kpd is shutting down: it takes no new calls");
}

grpc::ServerWriteReactor<v1::SessionEvent>* ComputeService::OpenSession(
    grpc::CallbackServerContext* context, const v1::OpenSessionRequest* request) {
  grpc::Status admitted = authenticate(*context);
  // Opening is counted as a call too, so that shutdown, which waits for calls before it ends
  // every session, never misses a session being opened.
  CallGate::Pass pass = gate_.enterCall();
  bool counted = false;
  if (admitted.ok()) {
    counted = pass && gate_.streamStarted();
    if (!counted) admitted = shuttingDown();
  }
  const bool sameHost = peers_.find(context->peer()).has_value();
  return new SessionStream(registry_, reaper_, request, admitted, peers_.describe(*context),
                           peers_.owner(*context), sameHost, counted ? &gate_ : nullptr);
}

grpc::Status ComputeService::ListDevices(grpc::ServerContext* context,
                                         const v1::ListDevicesRequest*,
                                         v1::ListDevicesResponse* response) {
  return serve(context, "ListDevices", [&] {
    for (uint32_t index : pool_.served()) {
      toProto(pool_.instance().deviceInfo(index), response->add_devices());
    }
  });
}

grpc::Status ComputeService::CloseSession(grpc::ServerContext* context,
                                          const v1::CloseSessionRequest* request,
                                          v1::CloseSessionResponse*) {
  return serve(context, "CloseSession", [&] {
    registry_.close(request->session(), peers_.owner(*context), "closed by the client");
  });
}

grpc::Status ComputeService::CreateTensor(grpc::ServerContext* context,
                                          const v1::CreateTensorRequest* request,
                                          v1::CreateTensorResponse* response) {
  return serve(context, "CreateTensor",
               [&] { find(context, request->session())->createTensor(*request, response); });
}

grpc::Status ComputeService::DestroyTensor(grpc::ServerContext* context,
                                           const v1::DestroyTensorRequest* request,
                                           v1::DestroyTensorResponse*) {
  return serve(context, "DestroyTensor",
               [&] { find(context, request->session())->destroyTensor(request->tensor()); });
}

grpc::Status ComputeService::ReadTensor(grpc::ServerContext* context,
                                        const v1::ReadTensorRequest* request,
                                        v1::ReadTensorResponse* response) {
  return serve(context, "ReadTensor", [&] {
    std::shared_ptr<void> hold;
    *response->mutable_data() =
        find(context, request->session())->readTensor(request->tensor(), &hold);
    gate_.keepUntilCallEnds(static_cast<grpc::ServerContextBase*>(context), std::move(hold));
  });
}

grpc::Status ComputeService::WriteTensor(grpc::ServerContext* context,
                                         const v1::WriteTensorRequest* request,
                                         v1::WriteTensorResponse*) {
  return serve(context, "WriteTensor", [&] {
    find(context, request->session())->writeTensor(request->tensor(), request->data());
  });
}

grpc::Status ComputeService::WriteTensorStream(grpc::ServerContext* context,
                                               grpc::ServerReader<v1::TensorChunk>* reader,
                                               v1::WriteTensorResponse*) {
  return serve(context, "WriteTensorStream", [&] {
    writeTensorStream(registry_, peers_.owner(*context),
                      [reader](v1::TensorChunk* chunk) { return reader->Read(chunk); });
  });
}

grpc::Status ComputeService::ReadTensorStream(grpc::ServerContext* context,
                                              const v1::ReadTensorStreamRequest* request,
                                              grpc::ServerWriter<v1::TensorChunk>* writer) {
  return serve(context, "ReadTensorStream", [&] {
    std::shared_ptr<void> hold;
    readTensorStream(
        registry_, peers_.owner(*context), *request,
        [&](const v1::TensorChunk& chunk) {
          return !context->IsCancelled() && writer->Write(chunk);
        },
        &hold);
    gate_.keepUntilCallEnds(static_cast<grpc::ServerContextBase*>(context), std::move(hold));
  });
}

grpc::Status ComputeService::CreateAlgorithm(grpc::ServerContext* context,
                                             const v1::CreateAlgorithmRequest* request,
                                             v1::CreateAlgorithmResponse* response) {
  return serve(context, "CreateAlgorithm",
               [&] { find(context, request->session())->createAlgorithm(*request, response); });
}

grpc::Status ComputeService::DestroyAlgorithm(grpc::ServerContext* context,
                                              const v1::DestroyAlgorithmRequest* request,
                                              v1::DestroyAlgorithmResponse*) {
  return serve(context, "DestroyAlgorithm",
               [&] { find(context, request->session())->destroyAlgorithm(request->algorithm()); });
}

grpc::Status ComputeService::CreateSequence(grpc::ServerContext* context,
                                            const v1::CreateSequenceRequest* request,
                                            v1::CreateSequenceResponse* response) {
  return serve(context, "CreateSequence", [&] {
    response->set_sequence(find(context, request->session())->createSequence(*request));
  });
}

grpc::Status ComputeService::DestroySequence(grpc::ServerContext* context,
                                             const v1::DestroySequenceRequest* request,
                                             v1::DestroySequenceResponse*) {
  return serve(context, "DestroySequence",
               [&] { find(context, request->session())->destroySequence(request->sequence()); });
}

grpc::Status ComputeService::RecordSequence(grpc::ServerContext* context,
                                            const v1::RecordSequenceRequest* request,
                                            v1::RecordSequenceResponse*) {
  return serve(context, "RecordSequence",
               [&] { find(context, request->session())->recordSequence(*request); });
}

grpc::Status ComputeService::Apply(grpc::ServerContext* context, const v1::ApplyRequest* request,
                                   v1::ApplyResponse* response) {
  uint32_t applied = 0;
  bool found = false;  // errors after this are an action's
  grpc::Status status = serve(context, "Apply", [&] {
    std::shared_ptr<Session> session = find(context, request->session());
    found = true;
    session->apply(*request, &applied);
  });
  response->set_applied(applied);
  if (!status.ok() && found)
    context->AddTrailingMetadata(kFailedActionKey, std::to_string(applied));
  return status;
}

grpc::Status ComputeService::Eval(grpc::ServerContext* context, const v1::EvalRequest* request,
                                  v1::EvalResponse* response) {
  return serve(context, "Eval", [&] {
    auto session = find(context, request->session());
    session->eval(*request, response, context->deadline(),
                  [this, context] { return gate_.givenUp() || context->IsCancelled(); });
    holdUntilSent(context, *session, *response, "Eval");
  });
}

grpc::Status ComputeService::EvalAsync(grpc::ServerContext* context, const v1::EvalRequest* request,
                                       v1::EvalAsyncResponse*) {
  return serve(context, "EvalAsync",
               [&] { find(context, request->session())->evalAsync(*request); });
}

grpc::Status ComputeService::EvalAwait(grpc::ServerContext* context,
                                       const v1::EvalAwaitRequest* request,
                                       v1::EvalResponse* response) {
  return serve(context, "EvalAwait", [&] {
    auto session = find(context, request->session());
    session->evalAwait(*request, response);
    holdUntilSent(context, *session, *response, "EvalAwait");
  });
}

grpc::Status ComputeService::CompileShader(grpc::ServerContext* context,
                                           const v1::CompileShaderRequest* request,
                                           v1::CompileShaderResponse* response) {
  return serve(context, "CompileShader", [&] {
    const std::string name = request->name().empty() ? "shader" : request->name();
    const std::vector<uint32_t> spirv = base::withContext(
        [] { return "glsl"; },
        [&] { return pool_.compiler().compile(request->glsl(), name, peers_.describe(*context)); });
    response->mutable_spirv()->assign(reinterpret_cast<const char*>(spirv.data()),
                                      spirv.size() * sizeof(uint32_t));
  });
}

grpc::Status ComputeService::GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest*,
                                       v1::GetStatusResponse* response) {
  return serve(context, "GetStatus", [&] {
    response->set_sessions(static_cast<uint32_t>(registry_.size()));
    response->set_objects(registry_.objectCount());
    for (const auto& [device, bytes] : pool_.memoryUsage()) {
      v1::DeviceMemory* memory = response->add_device_memory();
      memory->set_device(device);
      memory->set_allocated_bytes(bytes);
    }
    response->set_device_resets(pool_.resets());
    response->set_retired_devices(retirement_.retiredCount());
    response->set_pending_submissions(pool_.pendingSubmissions());
    response->set_compiles_waiting(pool_.compiler().waiting());
    response->set_reply_bytes_held(registry_.replyBytesHeld());
    response->set_uptime_seconds(
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::steady_clock::now() - started_)
                                  .count()));
    response->set_version(registry_.config().version);
    if (const LocalChannel* local = local_.load()) {
      response->set_local_connections(static_cast<uint32_t>(local->connections()));
    }
  });
}

grpc::Status ComputeService::ListSessions(grpc::ServerContext* context,
                                          const v1::ListSessionsRequest*,
                                          v1::ListSessionsResponse* response) {
  return serve(context, "ListSessions", [&] {
    // Who may see every session: root and kpd's own user, on a Unix socket (the kernel says
    // who they are).
    const auto peer = peers_.find(context->peer());
    const uid_t self = ::geteuid();
    KP_REQUIRE(peer && (peer->uid == 0 || peer->uid == self), base::ErrorCode::kPermissionDenied,
               "ListSessions: only root and kpd's own user (uid " + std::to_string(self) +
                   ") may list the sessions, through a Unix socket");
    const auto now = std::chrono::steady_clock::now();
    auto seconds = [&](std::chrono::steady_clock::time_point since) {
      return static_cast<uint64_t>(std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::seconds>(now - since).count()));
    };
    for (const auto& [session, owner] : registry_.list()) {
      v1::SessionSummary* summary = response->add_sessions();
      summary->set_serial(session->serial());
      summary->set_client(session->clientName());
      summary->set_owner(owner);
      summary->set_device(session->deviceIndex());
      summary->set_age_seconds(seconds(session->opened()));
      summary->set_idle_seconds(seconds(session->lastActive()));
      summary->set_objects(session->objectCount());
      summary->set_tensor_bytes(session->tensorBytes());
      summary->set_reply_bytes_held(session->replyBytesHeld());
    }
  });
}

grpc::Status ComputeService::GetLoad(grpc::ServerContext* context, const v1::GetLoadRequest*,
                                     v1::GetLoadResponse* response) {
  return serve(
      context, "GetLoad",
      [&] {
        // Counts and non-blocking looks at the devices only: no session's lock is taken.
        const std::map<uint32_t, uint32_t> sessions = registry_.countByDevice();
        uint32_t open = 0;
        for (const auto& [index, count] : sessions) open += count;
        for (const DevicePool::Load& load : pool_.load()) {
          v1::DeviceLoad* device = response->add_devices();
          device->set_device(load.index);
          device->set_type(pool_.instance().deviceInfo(load.index).type);
          const auto found = sessions.find(load.index);
          device->set_sessions(found != sessions.end() ? found->second : 0);
          device->set_memory_used_bytes(load.usedBytes);
          device->set_memory_free_bytes(load.freeBytes);
          device->set_evaluations_running(load.running);
          device->set_evaluations_queued(load.queued);
          device->set_busy_fraction(load.busyFraction);
          device->set_available(load.available);
        }
        const uint32_t limit = registry_.config().maxSessions;
        response->set_sessions_free(limit > open ? limit - open : 0);
        response->set_draining(gate_.draining());
      },
      /*whileDraining=*/true);
}

}  // namespace kp::service
