// kpd-compile: compiles one GLSL compute shader, in a process of its own, for kpd
// (server/service/devices/shader_compiler.h). glslang trusts its input: a source that nests
// deeply, or a macro that doubles itself twenty times, exhausts the stack or the memory of the
// process that compiles it. Here that process is this one, under limits it sets itself first,
// and what kpd sees is this process failing, never itself.
//
//   kpd-compile --memory-bytes N --cpu-seconds S --stack-bytes K NAME < source > result
//
// The result on stdout is one byte, then its payload: 'S' and the SPIR-V words (little-endian),
// or 'E' and glslang's message. Exit status 0 either way; anything else (a signal, an exit
// status) means the limits were hit (or the worker is broken).
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "server/base/error.h"
#include "server/engine/shader/glsl_compiler.h"

namespace {

struct Job {
  std::string source;
  std::string name;
  std::string result;  // 'S' + words, or 'E' + message
};

void* compile(void* argument) {
  Job& job = *static_cast<Job*>(argument);
  try {
    const std::vector<uint32_t> spirv = kp::engine::compileGlsl(job.source, job.name);
    job.result.assign(1, 'S');
    job.result.append(reinterpret_cast<const char*>(spirv.data()), spirv.size() * sizeof(uint32_t));
  } catch (const kp::base::Error& error) {
    job.result = std::string("E") + error.what();
  }
  // std::bad_alloc and the like escape: the process ends abnormally, which kpd reports as a
  // shader too complex to compile within the limits.
  return nullptr;
}

void limit(int resource, rlim_t value) {
  const rlimit limits{value, value};
  if (setrlimit(resource, &limits) != 0) {
    std::fprintf(stderr, "kpd-compile: setrlimit: %s\n", std::strerror(errno));
    std::exit(3);
  }
}

unsigned long long number(const char* flag, const char* text) {
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0') {
    std::fprintf(stderr, "kpd-compile: %s needs a number, not '%s'\n", flag, text);
    std::exit(2);
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long long memoryBytes = 512ull << 20, cpuSeconds = 10, stackBytes = 8ull << 20;
  Job job;
  job.name = "shader";
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 < argc && flag == "--memory-bytes") {
      memoryBytes = number(argv[i], argv[i + 1]), ++i;
    } else if (i + 1 < argc && flag == "--cpu-seconds") {
      cpuSeconds = number(argv[i], argv[i + 1]), ++i;
    } else if (i + 1 < argc && flag == "--stack-bytes") {
      stackBytes = number(argv[i], argv[i + 1]), ++i;
    } else {
      job.name = flag;
    }
  }
  limit(RLIMIT_CORE, 0);
  limit(RLIMIT_CPU, cpuSeconds);
  job.source.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  limit(RLIMIT_AS, memoryBytes);

  // The compile runs on a thread whose stack is `stackBytes` with a guard page below: a source
  // nested too deeply overflows it and the process dies of SIGSEGV, as kpd expects.
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setstacksize(&attributes, stackBytes);
  pthread_t thread;
  if (pthread_create(&thread, &attributes, compile, &job) != 0) {
    std::fprintf(stderr, "kpd-compile: cannot start the compiling thread\n");
    return 3;
  }
  pthread_join(thread, nullptr);
  std::fwrite(job.result.data(), 1, job.result.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 3;
}
