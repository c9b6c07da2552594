// Internal types of the kp client library that public headers name but never define: they
// live in the library's sources (with the generated kp.v1 protobuf code), so that programs
// using kp need neither gRPC nor protobuf headers.
#pragma once

namespace kp::detail {

/// A session with kpd: the channel, the held-open OpenSession stream, and RPC calls.
class Session;

/// Writes ops into an evaluation request.
class OpEncoder;

/// The library's access to the private state of Tensor, Algorithm and Sequence.
struct Access;

/// A mapped arena of a session's shared memory (the same-host fast path).
class SharedArena;

/// What a sequence's evaluations send and receive, kept between them.
class Evaluation;

}  // namespace kp::detail
