#include "server/service/transport/call_counter.h"

#include <cstring>

namespace kp::service {
namespace {

constexpr const char* kServicePrefix = "/kp.v1.Compute/";
constexpr const char* kOpenSession = "/kp.v1.Compute/OpenSession";

class CallCounter : public grpc::experimental::Interceptor {
 public:
  CallCounter(CallGate& gate, const void* context) : gate_(gate), context_(context) {
    gate_.callStarted();
  }
  ~CallCounter() override { gate_.callEnded(context_); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  CallGate& gate_;
  const void* context_;  // the call's ServerContext: what was kept for it goes with it
};

}  // namespace

grpc::experimental::Interceptor* CallCounterFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  const char* method = info->method();
  if (method == nullptr || std::strncmp(method, kServicePrefix, std::strlen(kServicePrefix)) != 0 ||
      std::strcmp(method, kOpenSession) == 0) {
    return nullptr;
  }
  return new CallCounter(gate_, info->server_context());
}

}  // namespace kp::service
