#include "server/service/transport/parse_errors.h"

#include <google/protobuf/descriptor.h>

#include <cstring>
#include <string>

namespace kp::service {
namespace {

constexpr const char* kService = "kp.v1.Compute";

// Method `method` of kp.v1.Compute, nullptr if unknown.
const google::protobuf::MethodDescriptor* methodOf(const std::string& method) {
  const auto* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(kService);
  return service ? service->FindMethodByName(method) : nullptr;
}

class ParseErrors : public grpc::experimental::Interceptor {
 public:
  ParseErrors(std::string method, std::string requestType)
      : method_(std::move(method)), requestType_(std::move(requestType)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsed_ = true;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) && unparsed_ &&
        !methods->GetSendStatus().ok()) {
      methods->ModifySendStatus(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       method_ + ": the request does not parse as a " + requestType_ +
                           " (a field has the wrong wire type, or the message is cut short)"));
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  const std::string requestType_;
  bool unparsed_ = false;
};

}  // namespace

grpc::experimental::Interceptor* ParseErrorsFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  const std::string prefix = std::string("/") + kService + "/";
  const char* method = info->method();
  if (method == nullptr || std::strncmp(method, prefix.c_str(), prefix.size()) != 0) {
    return nullptr;
  }
  // Client streams (WriteTensorStream) see no message at their normal end too; their handlers
  // check what arrived themselves.
  const auto* descriptor = methodOf(method + prefix.size());
  if (descriptor == nullptr || descriptor->client_streaming()) return nullptr;
  return new ParseErrors(method + prefix.size(),
                         std::string(descriptor->input_type()->full_name()));
}

}  // namespace kp::service
