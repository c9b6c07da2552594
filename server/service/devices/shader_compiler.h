// GLSL compilation for the service, out of process. Each compile runs in a kpd-compile worker
// (server/kpd_compile.cpp) under limits: the bytes of source it takes and of SPIR-V it may
// return, the worker's memory, CPU seconds and stack, and a wall-clock deadline. However a
// source is built, it costs kpd no more than that: a worker that hits a limit dies, and only its
// request fails, with INVALID_ARGUMENT "shader too complex: ..." naming the limit and its flag.
//
// At most `workers` compiles run at once, at most one per requester (a session, or the peer of
// a CompileShader call). A free worker goes to the waiting requester served longest ago (never
// served first; ties in order of arrival): one client's flood of compiles cannot starve
// another's. Successful results are cached by source text. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/base/mutex.h"

namespace kp::service {

struct CompilerLimits {
  // The kpd-compile executable; empty: kpd-compile next to the running program.
  std::string worker;
  uint64_t maxSourceBytes = 1 << 20;   // --max-shader-bytes
  uint64_t maxSpirvBytes = 16 << 20;   // of a compiled module
  uint64_t memoryBytes = 512ull << 20;  // --compile-memory-bytes: the worker's address space
  uint32_t cpuSeconds = 10;            // --compile-cpu-seconds
  uint64_t stackBytes = 8ull << 20;    // of the worker's compiling thread
  uint32_t timeoutMs = 20'000;         // --compile-timeout-ms: wall-clock time of one compile
  uint32_t workers = 2;                // --compile-workers: compiles running at once
};

class ShaderCompiler {
 public:
  explicit ShaderCompiler(CompilerLimits limits);

  ShaderCompiler(const ShaderCompiler&) = delete;
  ShaderCompiler& operator=(const ShaderCompiler&) = delete;

  // SPIR-V of GLSL compute shader `source` (its messages name it `name`), compiled for
  // `requester`. INVALID_ARGUMENT for a source that does not compile or hits a limit;
  // UNAVAILABLE when no worker can be started.
  std::vector<uint32_t> compile(const std::string& source, const std::string& name,
                                const std::string& requester);

  const CompilerLimits& limits() const { return limits_; }
  uint64_t cacheHits() const;
  // Workers that died on a limit since kpd started.
  uint64_t workerFailures() const;
  // Compiles waiting for a worker now.
  uint32_t waiting() const;

 private:
  class Turn;  // one requester's turn to compile: a worker slot, held for its scope
  std::vector<uint32_t> runWorker(const std::string& source, const std::string& name);
  std::vector<uint32_t> cached(const std::string& source) KP_REQUIRES(mutex_);

  const CompilerLimits limits_;
  mutable base::Mutex mutex_;
  base::CondVar turns_;
  // Requests waiting for a turn, oldest first: (ticket, requester).
  std::deque<std::pair<uint64_t, std::string>> waiting_ KP_GUARDED_BY(mutex_);
  std::set<std::string> running_ KP_GUARDED_BY(mutex_);  // requesters compiling now
  // When each requester was last given a worker (the turn counter then); bounded by forgetting
  // the oldest.
  std::map<std::string, uint64_t> lastServed_ KP_GUARDED_BY(mutex_);
  uint64_t nextTicket_ KP_GUARDED_BY(mutex_) = 0;
  uint64_t turnsGiven_ KP_GUARDED_BY(mutex_) = 0;
  std::list<std::string> order_ KP_GUARDED_BY(mutex_);  // cached sources, newest first
  std::unordered_map<std::string, std::pair<std::vector<uint32_t>, std::list<std::string>::iterator>>
      cache_ KP_GUARDED_BY(mutex_);
  uint64_t hits_ KP_GUARDED_BY(mutex_) = 0;
  uint64_t failures_ KP_GUARDED_BY(mutex_) = 0;
};

}  // namespace kp::service
