// libFuzzer entry points of the request fuzzer: every input runs through RequestHarness
// (decode -> validate -> execute on the default Vulkan device; see request_harness.h for what
// counts as a finding). Built with -fsanitize=fuzzer,address,undefined by `scripts/fuzz`
// (KP_FUZZ=ON); the normal build links the same file with replay_main.cc instead, to replay
// the committed corpus as a test.
#include <cstddef>
#include <cstdint>

#include "request_harness.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  kp::fuzz::RequestHarness::get();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kp::fuzz::RequestHarness::get().run(data, size);
  return 0;
}
