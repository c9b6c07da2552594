// What every benchmark program reads from its environment (bench/run sets it): a cap on the
// iterations (BENCH_ITERATIONS, for `bench/run --smoke`) and the paths whose results should
// be corrupted on purpose (BENCH_SMOKE_CORRUPT, to show that the smoke run checks them).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <string>

namespace kp::bench {

// `fallback`, or BENCH_ITERATIONS where that is smaller.
inline int reps(int fallback) {
  const char* cap = std::getenv("BENCH_ITERATIONS");
  const int value = cap ? std::atoi(cap) : 0;
  return value > 0 ? std::max(1, std::min(fallback, value)) : fallback;
}

// True where BENCH_SMOKE_CORRUPT (comma-separated) names `path`.
inline bool corrupt(const std::string& path) {
  const char* list = std::getenv("BENCH_SMOKE_CORRUPT");
  if (!list) return false;
  const std::string names = std::string(",") + list + ",";
  return names.find("," + path + ",") != std::string::npos;
}

}  // namespace kp::bench
