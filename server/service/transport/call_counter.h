// Counts the unary kp.v1.Compute calls alive in gRPC, from the moment a call arrives until
// gRPC has sent its reply (a server interceptor lives exactly that long). Shutdown waits for
// this count, not for handlers to return: a handler that returned has not yet sent its reply,
// and stopping gRPC then would cancel it (a finished Eval's results would be lost).
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include "server/service/transport/call_gate.h"

namespace kp::service {

class CallCounterFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallCounterFactory(CallGate& gate) : gate_(gate) {}

  // An interceptor that counts the call in `gate`, for every kp.v1.Compute method except the
  // OpenSession stream (which lasts as long as its session); nullptr for other services.
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  CallGate& gate_;
};

}  // namespace kp::service
