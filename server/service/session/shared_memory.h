// A session's shared memory: arenas (sealed memfds, mapped by the daemon and by the client)
// from which shared-memory tensors take their host copies. No global names: an arena is
// reachable only through its file descriptor, handed to the session's own local connections.
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "server/base/mutex.h"

namespace kp::service {

class SharedArena {
 public:
  // A memfd of `size` bytes, sealed against shrinking and growing, mapped read-write.
  // Throws base::Error(kResourceExhausted) when the memory cannot be had. A client arena
  // (`clientOwned`) is placed by the client: allocate() finds no room in it and release()
  // leaves it as it is.
  SharedArena(uint64_t id, uint64_t size, bool clientOwned = false);
  ~SharedArena();

  SharedArena(const SharedArena&) = delete;
  SharedArena& operator=(const SharedArena&) = delete;

  uint64_t id() const { return id_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_; }
  char* base() const { return base_; }
  bool clientOwned() const { return clientOwned_; }

  // First fit; returns false when no free run of `bytes` (a multiple of the page size) exists.
  bool allocate(uint64_t bytes, uint64_t* offset);
  // Returns a run to the free list and its pages to the system (they read as zeros after).
  // Once retired, release does nothing: the client keeps the last contents it mapped.
  void release(uint64_t offset, uint64_t bytes);
  void retire();

 private:
  const uint64_t id_;
  const uint64_t size_;
  const bool clientOwned_;
  int fd_ = -1;
  char* base_ = nullptr;
  base::Mutex mutex_;
  std::map<uint64_t, uint64_t> free_ KP_GUARDED_BY(mutex_);  // offset -> bytes, apart
  bool retired_ KP_GUARDED_BY(mutex_) = false;
};

// Bytes of an arena held by one tensor; returned to the arena when the last owner lets go.
struct SharedRegion {
  std::shared_ptr<SharedArena> arena;
  uint64_t offset = 0;
  uint64_t size = 0;

  SharedRegion(std::shared_ptr<SharedArena> a, uint64_t o, uint64_t s)
      : arena(std::move(a)), offset(o), size(s) {}
  ~SharedRegion() { arena->release(offset, size); }
  void* data() const { return arena->base() + offset; }
};

class SharedMemory {
 public:
  // `alignment`: page size of regions (at least 4096 and a multiple of the device's import
  // alignment). `arenaSize`: size of a new arena unless a tensor needs a larger one.
  SharedMemory(uint64_t alignment, uint64_t arenaSize);

  std::shared_ptr<SharedRegion> allocate(uint64_t bytes);
  // A new client arena of `bytes` rounded up to the alignment (see SharedArena).
  std::shared_ptr<SharedArena> newClientArena(uint64_t bytes);
  // Bytes [offset, offset + bytes) of client arena `id`, as a region that the client placed:
  // NotFound for an unknown arena; InvalidArgument, naming `field`, for an arena of kpd's own
  // or bytes outside the arena.
  std::shared_ptr<SharedRegion> clientRegion(uint64_t id, uint64_t offset, uint64_t bytes,
                                             const std::string& field) const;
  // NotFound for an unknown id.
  std::shared_ptr<SharedArena> arena(uint64_t id) const;
  uint64_t alignment() const { return alignment_; }
  // The session ends: its tensors' host copies stay as they are for the client to read (no
  // page is given back or reused; the arenas go when the last mapping does).
  void retire();

 private:
  const uint64_t alignment_;
  const uint64_t arenaSize_;
  mutable base::Mutex mutex_;
  std::vector<std::shared_ptr<SharedArena>> arenas_ KP_GUARDED_BY(mutex_);
};

}  // namespace kp::service
