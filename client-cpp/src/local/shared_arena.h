// kp::detail::SharedArena: one arena of a session's shared memory, mapped into this process.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kp::detail {

/// A mapping (MAP_SHARED, read-write) of an arena's memfd, received from kpd over the local
/// data socket. The daemon's shared-memory tensors keep their host copies in arenas; this
/// process reads and writes them in place. Unmapped on destruction: Tensors in shared memory
/// hold a shared_ptr to their arena, so it stays mapped while any of them lives.
class SharedArena {
 public:
  /// Maps `size` bytes of `fd` (which the caller still owns and may close afterwards: the
  /// mapping keeps the memory). Throws UnavailableError when mmap fails.
  SharedArena(uint64_t id, int fd, uint64_t size);
  ~SharedArena();

  SharedArena(const SharedArena&) = delete;
  SharedArena& operator=(const SharedArena&) = delete;

  /// SharedRegion.arena of the tensors in it.
  uint64_t id() const { return id_; }
  /// Bytes mapped.
  uint64_t size() const { return size_; }
  /// The first mapped byte.
  uint8_t* base() const { return base_; }

  /// The bytes [offset, offset + bytes) of the arena; InternalError if they are not all in it.
  uint8_t* region(uint64_t offset, uint64_t bytes) const;

 private:
  const uint64_t id_;
  const uint64_t size_;
  uint8_t* base_ = nullptr;
};

}  // namespace kp::detail
