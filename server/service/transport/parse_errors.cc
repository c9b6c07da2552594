#include "server/service/transport/parse_errors.h"

#include <google/protobuf/descriptor.h>

#include <cstring>
#include <string>
#include <unordered_map>

namespace kp::service {
namespace {

constexpr const char* kService = "kp.v1.Compute";

// The request type of each kp.v1.Compute method a parse failure can reach, by the method's
// path ("/kp.v1.Compute/CreateTensor" -> "kp.v1.CreateTensorRequest"), built once. Client
// streams (WriteTensorStream) are left out: they see no message at their normal end too, and
// their handlers check what arrived themselves.
const std::unordered_map<std::string, std::string>& requestTypes() {
  static const std::unordered_map<std::string, std::string> types = [] {
    std::unordered_map<std::string, std::string> built;
    const auto* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(kService);
    for (int i = 0; service && i < service->method_count(); ++i) {
      const auto* method = service->method(i);
      if (method->client_streaming()) continue;
      built.emplace("/" + std::string(kService) + "/" + std::string(method->name()),
                    std::string(method->input_type()->full_name()));
    }
    return built;
  }();
  return types;
}

class ParseErrors : public grpc::experimental::Interceptor {
 public:
  // `path` and `requestType`: an entry of requestTypes().
  ParseErrors(const std::string* path, const std::string* requestType)
      : path_(path), requestType_(requestType) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsed_ = true;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) && unparsed_ &&
        !methods->GetSendStatus().ok()) {
      methods->ModifySendStatus(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          path_->substr(std::strlen(kService) + 2) + ": the request does not parse as a " +
              *requestType_ + " (a field has the wrong wire type, or the message is cut short)"));
    }
    methods->Proceed();
  }

 private:
  const std::string* path_;
  const std::string* requestType_;  // in requestTypes()
  bool unparsed_ = false;
};

}  // namespace

grpc::experimental::Interceptor* ParseErrorsFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  if (info->method() == nullptr) return nullptr;
  const auto& types = requestTypes();
  const auto found = types.find(info->method());
  if (found == types.end()) return nullptr;
  return new ParseErrors(&found->first, &found->second);
}

}  // namespace kp::service
