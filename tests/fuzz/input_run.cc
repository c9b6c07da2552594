#include "input_run.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "fuzz_shaders.h"
#include "server/base/error.h"
#include "server/service/transport/status.h"
#include "server/service/transport/tensor_streams.h"

namespace kp::fuzz {
namespace {

using Clock = std::chrono::steady_clock;
// The owner of every session the fuzzer opens (as PeerCredentials::owner would name a peer).
constexpr const char* kOwner = "fuzz";

// fit_data never makes a data field larger than this (the memory quota is smaller anyway).
constexpr uint64_t kMaxFitBytes = 2 << 20;
// Largest workgroup count in x the harness lets through (see CreateAlgorithm below).
constexpr uint32_t kMaxWorkgroupX = 1024;
// How long a closed session's GPU work may take to be freed before it counts as a hang.
constexpr auto kDrainLimit = std::chrono::seconds(60);

uint64_t elementBytes(v1::DataType type) {
  return type == v1::DATA_TYPE_FLOAT64 ? 8 : 4;
}

// Makes `data` exactly `bytes` long, repeating its bytes (zeros when empty).
void fit(std::string* data, uint64_t bytes) {
  if (bytes > kMaxFitBytes) return;
  std::string out(bytes, '\0');
  if (!data->empty()) {
    for (uint64_t i = 0; i < bytes; ++i) out[i] = (*data)[i % data->size()];
  }
  *data = std::move(out);
}

void setSession(std::string* session, const InputRun::SessionState& target) {
  if (session->empty()) *session = target.id;
}

}  // namespace

// Turns FuzzInput handle numbers into the handles of `names` (nullptr: no mapping, for raw
// requests). `foreign`: `names` belong to another session than the one the call runs on;
// remembers whether a mapped handle was used, which makes success a finding.
class InputRun::Mapper {
 public:
  Mapper(const SessionState* names, bool foreign) : names_(names), foreign_(foreign) {}

  uint64_t tensor(uint64_t value) { return names_ ? map(names_->tensors, value) : value; }
  uint64_t algorithm(uint64_t value) { return names_ ? map(names_->algorithms, value) : value; }
  uint64_t sequence(uint64_t value) { return names_ ? map(names_->sequences, value) : value; }

  void tensors(google::protobuf::RepeatedField<uint64_t>* handles) {
    for (uint64_t& handle : *handles) handle = tensor(handle);
  }

  void ops(google::protobuf::RepeatedPtrField<v1::Op>* ops) {
    for (v1::Op& op : *ops) {
      switch (op.op_case()) {
        case v1::Op::kTensorSyncDevice:
          tensors(op.mutable_tensor_sync_device()->mutable_tensors());
          break;
        case v1::Op::kTensorSyncLocal:
          tensors(op.mutable_tensor_sync_local()->mutable_tensors());
          break;
        case v1::Op::kTensorCopy:
          tensors(op.mutable_tensor_copy()->mutable_tensors());
          break;
        case v1::Op::kAlgoDispatch:
          op.mutable_algo_dispatch()->set_algorithm(algorithm(op.algo_dispatch().algorithm()));
          break;
        case v1::Op::kMult:
          tensors(op.mutable_mult()->mutable_tensors());
          break;
        case v1::Op::kMemoryBarrier:
          tensors(op.mutable_memory_barrier()->mutable_tensors());
          break;
        case v1::Op::OP_NOT_SET:
          break;
      }
    }
  }

  bool mapping() const { return names_ != nullptr; }
  bool usedForeign() const { return usedForeign_; }

 private:
  uint64_t map(const std::vector<uint64_t>& handles, uint64_t value) {
    if (value == 0 || value > handles.size()) return value;
    usedForeign_ = usedForeign_ || foreign_;
    return handles[value - 1];
  }

  const SessionState* names_;
  const bool foreign_;
  bool usedForeign_ = false;
};

InputRun::InputRun(RequestHarness& harness, const v1::OpenSessionRequest& open, bool attachLocal)
    : harness_(harness) {
  if (!this->open(open, &main_)) {
    v1::OpenSessionRequest fallback;
    fallback.set_client_name("fuzz main");
    if (!this->open(fallback, &main_)) fail("OpenSession: the default session was refused");
  }
  if (attachLocal) {
    Mapper none(nullptr, false);
    invoke("AttachLocal", none, false, [&] { main_.session->attachLocal(); });
  }
}

InputRun::~InputRun() {
  if (!finished_) finish();
}

InputRun::SessionState* InputRun::open(const v1::OpenSessionRequest& request, SessionState* state) {
  v1::SessionOpened opened;
  Mapper none(nullptr, false);
  grpc::Status status = invoke("OpenSession", none, false, [&] {
    state->session = harness_.registry().open(request, "fuzz", kOwner, false, &opened);
  });
  if (!status.ok()) return nullptr;
  state->id = opened.session();
  return state;
}

InputRun::SessionState& InputRun::second() {
  if (!second_.session) {
    v1::OpenSessionRequest request;
    request.set_client_name("fuzz second");
    open(request, &second_);
  }
  return second_;
}

std::shared_ptr<service::Session> InputRun::find(const std::string& id) {
  return harness_.registry().find(id, kOwner);
}

template <typename F>
grpc::Status InputRun::invoke(const char* rpc, const Mapper& mapper, bool cancel, F&& body) {
  const auto start = Clock::now();
  grpc::Status status = service::guarded(rpc, std::forward<F>(body));
  harness_.countRequest(status.ok());
  if (harness_.verbose()) {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    std::fprintf(stderr, "kp fuzz: %s (%.1f ms) -> %d %s\n", rpc, ms,
                 static_cast<int>(status.error_code()), status.error_message().c_str());
  }
  const std::string what = std::string(rpc) + " answered status " +
                           std::to_string(static_cast<int>(status.error_code())) + " \"" +
                           status.error_message() + "\"";
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      if (mapper.usedForeign()) {
        fail(std::string(rpc) + " succeeded while naming another session's object");
      }
      return status;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      break;
    case grpc::StatusCode::UNAVAILABLE:
      if (cancel) break;
      fail(what + " (not cancelled)");
    default:
      fail(what);
  }
  if (status.error_message().empty()) fail(what + ": an error status without a message");
  return status;
}

void InputRun::fail(const std::string& what) const {
  std::string call = current_ ? current_->ShortDebugString() : std::string("(none)");
  if (call.size() > 4000) call = call.substr(0, 4000) + "...";
  finding(what + "\n     in the call: " + call);
}

void InputRun::call(const Call& call) {
  if (finished_) return;
  current_ = &call;
  SessionState* target = &main_;
  const SessionState* names = &main_;
  if (call.session() == SECOND || call.session() == SECOND_NAMING_MAIN) {
    target = &second();
    names = call.session() == SECOND ? &second_ : &main_;
    if (!target->session) return;  // the second session was refused (max sessions)
  }
  Mapper mapper(names, names != target);
  dispatch(call, *target, mapper);
}

void InputRun::raw(uint32_t type, const std::string& bytes) {
  if (finished_) return;
  // The request types, in the order of Call's oneof (RawRequest itself excluded).
  static const std::vector<const google::protobuf::FieldDescriptor*> types = [] {
    std::vector<const google::protobuf::FieldDescriptor*> fields;
    const auto* oneof = Call::descriptor()->oneof_decl(0);
    for (int i = 0; i < oneof->field_count(); ++i) {
      if (oneof->field(i)->number() != Call::kRawFieldNumber) fields.push_back(oneof->field(i));
    }
    return fields;
  }();
  const auto* field = types[type % types.size()];
  Call call;
  google::protobuf::Message* message = call.GetReflection()->MutableMessage(&call, field);
  if (field->number() == Call::kCreateAlgorithmFieldNumber) {
    message = static_cast<CreateAlgorithm*>(message)->mutable_request();
  } else if (field->number() == Call::kWriteTensorStreamFieldNumber) {
    message = static_cast<TensorChunks*>(message)->add_chunks();
  }
  if (!message->ParseFromString(bytes)) return;  // gRPC would refuse it before kpd sees it
  Mapper none(nullptr, false);
  const Call* outer = current_;
  current_ = &call;
  dispatch(call, main_, none);
  current_ = outer;
}

void InputRun::dispatch(const Call& call, SessionState& target, Mapper& mapper) {
  const bool fitData = call.fit_data();
  switch (call.call_case()) {
    case Call::kCreateTensor: {
      v1::CreateTensorRequest request = call.create_tensor();
      setSession(request.mutable_session(), target);
      const uint64_t bytes = request.size() <= kMaxFitBytes
                                 ? request.size() * elementBytes(request.data_type())
                                 : UINT64_MAX;
      if (fitData) fit(request.mutable_data(), bytes);
      v1::CreateTensorResponse response;
      if (invoke("CreateTensor", mapper, false, [&] {
            find(request.session())->createTensor(request, &response);
          }).ok()) {
        if (response.tensor() == 0) fail("CreateTensor returned handle 0");
        target.tensors.push_back(response.tensor());
        target.tensorBytes[response.tensor()] = bytes;
      }
      break;
    }
    case Call::kDestroyTensor: {
      v1::DestroyTensorRequest request = call.destroy_tensor();
      setSession(request.mutable_session(), target);
      request.set_tensor(mapper.tensor(request.tensor()));
      invoke("DestroyTensor", mapper, false,
             [&] { find(request.session())->destroyTensor(request.tensor()); });
      break;
    }
    case Call::kReadTensor: {
      v1::ReadTensorRequest request = call.read_tensor();
      setSession(request.mutable_session(), target);
      request.set_tensor(mapper.tensor(request.tensor()));
      std::string data;
      if (invoke("ReadTensor", mapper, false, [&] {
            data = find(request.session())->readTensor(request.tensor());
          }).ok()) {
        auto known = target.tensorBytes.find(request.tensor());
        if (known != target.tensorBytes.end() && known->second != data.size()) {
          fail("ReadTensor returned " + std::to_string(data.size()) + " bytes of a tensor of " +
               std::to_string(known->second));
        }
      }
      break;
    }
    case Call::kWriteTensor: {
      v1::WriteTensorRequest request = call.write_tensor();
      setSession(request.mutable_session(), target);
      request.set_tensor(mapper.tensor(request.tensor()));
      auto known = target.tensorBytes.find(request.tensor());
      if (fitData && known != target.tensorBytes.end()) fit(request.mutable_data(), known->second);
      invoke("WriteTensor", mapper, false,
             [&] { find(request.session())->writeTensor(request.tensor(), request.data()); });
      break;
    }
    case Call::kWriteTensorStream: {
      // As ComputeService::WriteTensorStream, chunk by chunk.
      TensorChunks chunks = call.write_tensor_stream();
      for (v1::TensorChunk& chunk : *chunks.mutable_chunks()) {
        chunk.set_tensor(mapper.tensor(chunk.tensor()));
      }
      if (chunks.chunks_size() > 0) setSession(chunks.mutable_chunks(0)->mutable_session(), target);
      invoke("WriteTensorStream", mapper, false, [&] {
        int next = 0;
        service::writeTensorStream(harness_.registry(), kOwner, [&](v1::TensorChunk* chunk) {
          if (next == chunks.chunks_size()) return false;
          *chunk = chunks.chunks(next++);
          return true;
        });
      });
      break;
    }
    case Call::kReadTensorStream: {
      // As ComputeService::ReadTensorStream.
      v1::ReadTensorStreamRequest request = call.read_tensor_stream();
      setSession(request.mutable_session(), target);
      request.set_tensor(mapper.tensor(request.tensor()));
      invoke("ReadTensorStream", mapper, false, [&] {
        std::shared_ptr<void> hold;
        service::readTensorStream(
            harness_.registry(), kOwner, request,
            [&](const v1::TensorChunk& chunk) {
              if (chunk.data().empty()) fail("ReadTensorStream: an empty chunk before the end");
              return true;
            },
            &hold);
      });
      break;
    }
    case Call::kCreateAlgorithm: {
      const CreateAlgorithm& create = call.create_algorithm();
      v1::CreateAlgorithmRequest request = create.request();
      setSession(request.mutable_session(), target);
      mapper.tensors(request.mutable_tensors());
      const auto& shaders = fuzzShaders();
      if (mapper.mapping() && create.builtin() > 0) {
        const size_t index = (create.builtin() - 1) % shaders.size();
        if (create.as_glsl()) {
          request.set_glsl(shaders[index].glsl);
        } else {
          std::vector<uint32_t> words = fuzzShaderSpirv()[index];
          for (const WordPatch& patch : create.patches()) {
            words[patch.index() % words.size()] = patch.value();
          }
          words.resize(words.size() - std::min<size_t>(create.truncate_words(), words.size()));
          request.set_spirv(std::string(reinterpret_cast<const char*>(words.data()),
                                        words.size() * sizeof(uint32_t)));
        }
      }
      // Bound the GPU work: a dispatch of up to 65535^3 workgroups is valid and simply runs
      // for hours (runaway work has its own tests), and under ASan lavapipe's memory grows
      // with every workgroup run. Counts past the device's limits stay, to be refused.
      const auto& limits = harness_.pool().instance().deviceInfo(0).maxWorkGroupCount;
      v1::Workgroup* workgroup = request.mutable_workgroup();
      if (workgroup->x() <= limits[0] && workgroup->y() <= limits[1] &&
          workgroup->z() <= limits[2]) {
        workgroup->set_x(workgroup->x() % (kMaxWorkgroupX + 1));
        workgroup->set_y(workgroup->y() % 3);
        workgroup->set_z(workgroup->z() % 3);
        // x = 0 takes the first tensor's size, up to the memory quota's 256 Ki elements.
        if (workgroup->x() == 0 && request.tensors_size() > 0) {
          auto known = target.tensorBytes.find(request.tensors(0));
          if (known != target.tensorBytes.end() && known->second / 4 > kMaxWorkgroupX) {
            workgroup->set_x(kMaxWorkgroupX);
          }
        }
      }
      v1::CreateAlgorithmResponse response;
      if (invoke("CreateAlgorithm", mapper, false, [&] {
            find(request.session())->createAlgorithm(request, &response);
          }).ok()) {
        if (response.algorithm() == 0) fail("CreateAlgorithm returned handle 0");
        target.algorithms.push_back(response.algorithm());
      }
      break;
    }
    case Call::kDestroyAlgorithm: {
      v1::DestroyAlgorithmRequest request = call.destroy_algorithm();
      setSession(request.mutable_session(), target);
      request.set_algorithm(mapper.algorithm(request.algorithm()));
      invoke("DestroyAlgorithm", mapper, false,
             [&] { find(request.session())->destroyAlgorithm(request.algorithm()); });
      break;
    }
    case Call::kCreateSequence: {
      v1::CreateSequenceRequest request = call.create_sequence();
      setSession(request.mutable_session(), target);
      uint64_t handle = 0;
      if (invoke("CreateSequence", mapper, false, [&] {
            handle = find(request.session())->createSequence(request);
          }).ok()) {
        if (handle == 0) fail("CreateSequence returned handle 0");
        target.sequences.push_back(handle);
      }
      break;
    }
    case Call::kDestroySequence: {
      v1::DestroySequenceRequest request = call.destroy_sequence();
      setSession(request.mutable_session(), target);
      request.set_sequence(mapper.sequence(request.sequence()));
      invoke("DestroySequence", mapper, false,
             [&] { find(request.session())->destroySequence(request.sequence()); });
      break;
    }
    case Call::kRecordSequence: {
      v1::RecordSequenceRequest request = call.record_sequence();
      setSession(request.mutable_session(), target);
      request.set_sequence(mapper.sequence(request.sequence()));
      mapper.ops(request.mutable_ops());
      invoke("RecordSequence", mapper, false,
             [&] { find(request.session())->recordSequence(request); });
      break;
    }
    case Call::kEval:
    case Call::kEvalAsync: {
      const bool async = call.call_case() == Call::kEvalAsync;
      v1::EvalRequest request = async ? call.eval_async() : call.eval();
      setSession(request.mutable_session(), target);
      request.set_sequence(mapper.sequence(request.sequence()));
      mapper.ops(request.mutable_ops());
      for (v1::TensorData& upload : *request.mutable_uploads()) {
        upload.set_tensor(mapper.tensor(upload.tensor()));
        auto known = target.tensorBytes.find(upload.tensor());
        if (fitData && known != target.tensorBytes.end()) fit(upload.mutable_data(), known->second);
      }
      if (async) {
        invoke("EvalAsync", mapper, false, [&] { find(request.session())->evalAsync(request); });
        break;
      }
      const bool cancel = call.cancel();
      v1::EvalResponse response;
      if (invoke("Eval", mapper, cancel, [&] {
            find(request.session())
                ->eval(
                    request, &response, std::chrono::system_clock::time_point::max(),
                    cancel ? std::function<bool()>([] { return true; }) : std::function<bool()>());
          }).ok()) {
        if (!response.finished()) fail("Eval answered OK with finished = false");
        for (const v1::TensorData& download : response.downloads()) {
          auto known = target.tensorBytes.find(download.tensor());
          if (known != target.tensorBytes.end() && known->second != download.data().size()) {
            fail("Eval downloaded " + std::to_string(download.data().size()) +
                 " bytes of a tensor of " + std::to_string(known->second));
          }
        }
      }
      break;
    }
    case Call::kEvalAwait: {
      v1::EvalAwaitRequest request = call.eval_await();
      setSession(request.mutable_session(), target);
      request.set_sequence(mapper.sequence(request.sequence()));
      v1::EvalResponse response;
      invoke("EvalAwait", mapper, false,
             [&] { find(request.session())->evalAwait(request, &response); });
      break;
    }
    case Call::kCompileShader: {
      // As ComputeService::CompileShader.
      const v1::CompileShaderRequest& request = call.compile_shader();
      invoke("CompileShader", mapper, false, [&] {
        const std::string name = request.name().empty() ? "shader" : request.name();
        try {
          harness_.pool().compiler().compile(request.glsl(), name, "fuzz");
        } catch (const base::Error& error) {
          throw base::Error(error.code(), std::string("glsl: ") + error.what());
        }
      });
      break;
    }
    case Call::kGetStatus: {
      invoke("GetStatus", mapper, false, [&] {
        harness_.registry().size();
        harness_.registry().objectCount();
        harness_.pool().memoryUsage();
      });
      break;
    }
    case Call::kCloseSession: {
      v1::CloseSessionRequest request = call.close_session();
      setSession(request.mutable_session(), target);
      invoke("CloseSession", mapper, false,
             [&] { harness_.registry().close(request.session(), kOwner, "closed by the client"); });
      break;
    }
    case Call::kRaw:
      raw(call.raw().type(), call.raw().data());
      break;
    case Call::kAttach: {
      // As the local data socket's attach.
      v1::AttachRequest request = call.attach();
      setSession(request.mutable_session(), target);
      invoke("Attach", mapper, false, [&] { find(request.session())->attachLocal(); });
      break;
    }
    case Call::kMapArena: {
      // As the local data socket's map_arena, on a connection attached to the call's session.
      invoke("MapArena", mapper, false, [&] {
        auto arena = find(target.id)->arena(call.map_arena().arena());
        if (arena->fd() < 0 || arena->size() == 0) fail("MapArena: an arena without memory");
      });
      break;
    }
    case Call::kApply: {
      v1::ApplyRequest request = call.apply();
      setSession(request.mutable_session(), target);
      for (v1::Action& action : *request.mutable_actions()) {
        if (action.has_destroy_tensor()) {
          auto* destroy = action.mutable_destroy_tensor();
          destroy->set_tensor(mapper.tensor(destroy->tensor()));
        } else if (action.has_create_algorithm()) {
          mapper.tensors(action.mutable_create_algorithm()->mutable_tensors());
        } else if (action.has_destroy_algorithm()) {
          auto* destroy = action.mutable_destroy_algorithm();
          destroy->set_algorithm(mapper.algorithm(destroy->algorithm()));
        } else if (action.has_destroy_sequence()) {
          auto* destroy = action.mutable_destroy_sequence();
          destroy->set_sequence(mapper.sequence(destroy->sequence()));
        }
      }
      uint32_t applied = 0;
      invoke("Apply", mapper, false, [&] { find(request.session())->apply(request, &applied); });
      if (applied > static_cast<uint32_t>(request.actions_size())) {
        fail("Apply counted more actions applied than it was given");
      }
      for (uint32_t i = 0; i < applied; ++i) {
        const v1::Action& action = request.actions(static_cast<int>(i));
        if (action.has_create_tensor() && action.create_tensor().handle() != 0) {
          const v1::CreateTensorRequest& created = action.create_tensor();
          target.tensors.push_back(created.handle());
          target.tensorBytes[created.handle()] =
              created.size() <= kMaxFitBytes ? created.size() * elementBytes(created.data_type())
                                             : UINT64_MAX;
        } else if (action.has_create_algorithm() && action.create_algorithm().handle() != 0) {
          target.algorithms.push_back(action.create_algorithm().handle());
        } else if (action.has_create_sequence() && action.create_sequence().handle() != 0) {
          target.sequences.push_back(action.create_sequence().handle());
        }
      }
      break;
    }
    case Call::kNewArena: {
      // As the local data socket's new_arena, on a connection attached to the call's session.
      invoke("NewArena", mapper, false, [&] {
        auto arena = find(target.id)->newArena(call.new_arena().size());
        if (arena->fd() < 0 || arena->size() < call.new_arena().size()) {
          fail("NewArena: an arena smaller than asked");
        }
      });
      break;
    }
    case Call::CALL_NOT_SET:
      break;
  }
}

void InputRun::finish() {
  finished_ = true;
  for (SessionState* state : {&main_, &second_}) {
    if (!state->session) continue;
    // As CloseSession; NOT_FOUND when the input closed it already or its lease ran out.
    grpc::Status closed = service::guarded(
        "CloseSession", [&] { harness_.registry().close(state->id, kOwner, "the input ended"); });
    if (!closed.ok() && closed.error_code() != grpc::StatusCode::NOT_FOUND) {
      fail("CloseSession at the end of the input answered " + closed.error_message());
    }
    // A session whose evaluations outlived the close wait is left draining (kpd's reaper
    // retries it every second); wait for it here, so that the leak check below sees
    // everything freed.
    const auto start = Clock::now();
    while (!state->session->close("the input ended", Clock::now())) {
      if (Clock::now() - start > kDrainLimit) {
        fail("hang: the GPU work of a closed session was not freed within 60 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    harness_.retirement().retryDraining();  // lets go of it, now that it is drained
    while (state->session.use_count() > 1) {
      if (Clock::now() - start > kDrainLimit) {
        fail("leak: a closed session is still referenced after 60 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    state->session.reset();
  }
}

}  // namespace kp::fuzz
