// Replays fuzzer inputs without libFuzzer: `request_fuzzer_replay FILE_OR_DIR...` runs every
// file through the same harness as the fuzzer (request_fuzzer.cc), in name order, and prints
// how many ran. A finding aborts, naming the input that was running. CTest runs it over the
// committed corpus and the regression inputs (tests/fuzz/corpus, tests/fuzz/regressions).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "request_harness.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const fs::path path(argv[i]);
    if (fs::is_directory(path)) {
      for (const auto& entry : fs::directory_iterator(path)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else if (fs::is_regular_file(path)) {
      files.push_back(path);
    } else {
      std::fprintf(stderr, "request_fuzzer_replay: %s: no such file or directory\n", argv[i]);
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  LLVMFuzzerInitialize(&argc, &argv);
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replaying %s (%zu bytes)\n", file.c_str(), bytes.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  auto& harness = kp::fuzz::RequestHarness::get();
  harness.shutdown();
  std::printf("request_fuzzer_replay: %zu input(s), %llu request(s) succeeded, %llu refused, no finding\n",
              files.size(), static_cast<unsigned long long>(harness.requestsOk()),
              static_cast<unsigned long long>(harness.requestsFailed()));
  return 0;
}
