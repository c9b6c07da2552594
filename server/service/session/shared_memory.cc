#include "server/service/session/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "server/base/error.h"

namespace kp::service {

using base::ErrorCode;
using base::fail;

SharedArena::SharedArena(uint64_t id, uint64_t size, bool clientOwned)
    : id_(id), size_(size), clientOwned_(clientOwned) {
  fd_ = memfd_create("kp-session-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd_ < 0) fail(ErrorCode::kResourceExhausted, std::string("memfd_create: ") + strerror(errno));
  if (ftruncate(fd_, static_cast<off_t>(size)) != 0 ||
      fcntl(fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    const std::string error = strerror(errno);
    close(fd_);
    fail(ErrorCode::kResourceExhausted, "cannot size shared memory: " + error);
  }
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (base == MAP_FAILED) {
    const std::string error = strerror(errno);
    close(fd_);
    fail(ErrorCode::kResourceExhausted, "cannot map shared memory: " + error);
  }
  base_ = static_cast<char*>(base);
  if (!clientOwned) free_.emplace(0, size);
}

SharedArena::~SharedArena() {
  munmap(base_, size_);
  close(fd_);
}

bool SharedArena::allocate(uint64_t bytes, uint64_t* offset) {
  base::MutexLock lock(mutex_);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < bytes) continue;
    *offset = it->first;
    const uint64_t rest = it->second - bytes;
    const uint64_t restOffset = it->first + bytes;
    free_.erase(it);
    if (rest > 0) free_.emplace(restOffset, rest);
    return true;
  }
  return false;
}

void SharedArena::retire() {
  base::MutexLock lock(mutex_);
  retired_ = true;
}

void SharedArena::release(uint64_t offset, uint64_t bytes) {
  base::MutexLock lock(mutex_);
  if (retired_ || clientOwned_) return;
  // Give the pages back to the system; the arena keeps its size.
  fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
            static_cast<off_t>(bytes));
  auto [it, inserted] = free_.emplace(offset, bytes);
  // Merge with the following and the preceding free runs.
  auto next = std::next(it);
  if (next != free_.end() && it->first + it->second == next->first) {
    it->second += next->second;
    free_.erase(next);
  }
  if (it != free_.begin()) {
    auto previous = std::prev(it);
    if (previous->first + previous->second == it->first) {
      previous->second += it->second;
      free_.erase(it);
    }
  }
}

SharedMemory::SharedMemory(uint64_t alignment, uint64_t arenaSize)
    : alignment_(alignment < 4096 ? 4096 : alignment), arenaSize_(arenaSize) {}

std::shared_ptr<SharedRegion> SharedMemory::allocate(uint64_t bytes) {
  const uint64_t size = (bytes + alignment_ - 1) / alignment_ * alignment_;
  base::MutexLock lock(mutex_);
  uint64_t offset = 0;
  for (const auto& arena : arenas_) {
    if (arena->allocate(size, &offset)) return std::make_shared<SharedRegion>(arena, offset, size);
  }
  const uint64_t arenaBytes =
      size > arenaSize_ ? size : (arenaSize_ + alignment_ - 1) / alignment_ * alignment_;
  auto arena = std::make_shared<SharedArena>(arenas_.size() + 1, arenaBytes);
  arenas_.push_back(arena);
  arena->allocate(size, &offset);
  return std::make_shared<SharedRegion>(arena, offset, size);
}

std::shared_ptr<SharedArena> SharedMemory::newClientArena(uint64_t bytes) {
  const uint64_t size = (bytes + alignment_ - 1) / alignment_ * alignment_;
  base::MutexLock lock(mutex_);
  auto arena = std::make_shared<SharedArena>(arenas_.size() + 1, size, /*clientOwned=*/true);
  arenas_.push_back(arena);
  return arena;
}

std::shared_ptr<SharedRegion> SharedMemory::clientRegion(uint64_t id, uint64_t offset,
                                                         uint64_t bytes,
                                                         const std::string& field) const {
  std::shared_ptr<SharedArena> placed = arena(id);
  KP_REQUIRE(placed->clientOwned(), ErrorCode::kInvalidArgument,
             field + ".arena: arena " + std::to_string(id) +
                 " is kpd's (place tensors only in arenas made with new_arena)");
  KP_REQUIRE(offset <= placed->size() && bytes <= placed->size() - offset,
             ErrorCode::kInvalidArgument,
             field + ": bytes [" + std::to_string(offset) + ", " + std::to_string(offset) + " + " +
                 std::to_string(bytes) + ") pass the end of arena " + std::to_string(id) + " (" +
                 std::to_string(placed->size()) + " bytes)");
  return std::make_shared<SharedRegion>(std::move(placed), offset, bytes);
}

void SharedMemory::retire() {
  base::MutexLock lock(mutex_);
  for (const auto& arena : arenas_) arena->retire();
}

std::shared_ptr<SharedArena> SharedMemory::arena(uint64_t id) const {
  base::MutexLock lock(mutex_);
  if (id == 0 || id > arenas_.size()) {
    fail(ErrorCode::kNotFound, "arena " + std::to_string(id) + " does not exist in this session");
  }
  return arenas_[id - 1];
}

}  // namespace kp::service
