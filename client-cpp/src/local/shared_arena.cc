#include "client-cpp/src/local/shared_arena.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "kp/error.hpp"

namespace kp::detail {

SharedArena::SharedArena(uint64_t id, int fd, uint64_t size) : id_(id), size_(size) {
  void* mapped =
      size == 0 ? MAP_FAILED : ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mapped == MAP_FAILED) {
    const std::string reason = size == 0 ? "it is empty" : std::strerror(errno);
    throw UnavailableError(StatusCode::kUnavailable,
                           "cannot map shared-memory arena " + std::to_string(id) + " (" +
                               std::to_string(size) + " bytes): " + reason);
  }
  base_ = static_cast<uint8_t*>(mapped);
}

SharedArena::~SharedArena() {
  ::munmap(base_, size_);
}

uint8_t* SharedArena::region(uint64_t offset, uint64_t bytes) const {
  if (offset > size_ || bytes > size_ - offset) {
    throw InternalError(StatusCode::kInternal,
                        "kpd placed a tensor at bytes [" + std::to_string(offset) + ", " +
                            std::to_string(offset + bytes) + ") of shared-memory arena " +
                            std::to_string(id_) + ", which has " + std::to_string(size_));
  }
  return base_ + offset;
}

}  // namespace kp::detail
