// A request that does not parse is the client's error, not kpd's: gRPC answers it with
// INTERNAL (UNIMPLEMENTED for the OpenSession stream) and an empty message, which this
// interceptor replaces with INVALID_ARGUMENT naming
// the method and the message type it expected ("CreateTensor: the request does not parse as a
// kp.v1.CreateTensorRequest (a field has the wrong wire type, or the message is cut)").
// Streams are covered too: a chunk of WriteTensorStream that does not parse ends the stream,
// which writeTensorStream answers itself.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

namespace kp::service {

class ParseErrorsFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // For every kp.v1.Compute method; nullptr for other services.
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace kp::service
