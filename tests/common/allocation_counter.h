// Counts the calls of operator new on each thread, for tests that check that a path allocates
// nothing. It replaces the program's global operator new: include it in exactly one source file
// of a test program.
#pragma once

#include <cstdlib>
#include <new>

namespace kp::test {

// operator new calls made by this thread so far.
inline thread_local long allocations = 0;

}  // namespace kp::test

void* operator new(std::size_t bytes) {
  ++kp::test::allocations;
  if (void* memory = std::malloc(bytes == 0 ? 1 : bytes)) return memory;
  throw std::bad_alloc();
}

void operator delete(void* memory) noexcept { std::free(memory); }

void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }
