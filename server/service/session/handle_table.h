// Objects of one kind owned by a session, named by non-zero 64-bit handles: random ones with
// the top bit clear, drawn from the session's own random generator (so they say nothing about
// other sessions'), or ones the client chose, which have the top bit set (so the two never
// meet). Not thread-safe: the owning Session locks around it.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>

#include "server/base/error.h"

namespace kp::service {

template <typename T>
class HandleTable {
 public:
  explicit HandleTable(const char* kind) : kind_(kind) {}

  // The top bit of the handles clients choose.
  static constexpr uint64_t kClientHandleBit = uint64_t{1} << 63;

  uint64_t add(std::shared_ptr<T> object, std::mt19937_64& random) {
    uint64_t handle = 0;
    while (handle == 0 || objects_.count(handle)) handle = random() & ~kClientHandleBit;
    objects_.emplace(handle, std::move(object));
    return handle;
  }

  // InvalidArgument naming `field` unless `handle` is a client's (top bit set) and free.
  void requireFreeClientHandle(uint64_t handle, const std::string& field) const {
    KP_REQUIRE((handle & kClientHandleBit) != 0, base::ErrorCode::kInvalidArgument,
               field + ": " + std::to_string(handle) +
                   " is not a client handle (those have the top bit set: 2^63 or more)");
    KP_REQUIRE(
        objects_.count(handle) == 0, base::ErrorCode::kInvalidArgument,
        field + ": " + kind_ + " " + std::to_string(handle) + " already exists in this session");
  }

  // Adds `object` as `handle`, which requireFreeClientHandle accepted.
  void addAs(uint64_t handle, std::shared_ptr<T> object) {
    objects_.emplace(handle, std::move(object));
  }

  // NotFound naming `field` when the handle is 0 or unknown.
  const std::shared_ptr<T>& get(uint64_t handle, const std::string& field) const {
    const std::shared_ptr<T>* object = find(handle);
    if (object == nullptr) failNotFound(handle, field);
    return *object;
  }

  // The object, or nullptr when the handle is 0 or unknown.
  const std::shared_ptr<T>* find(uint64_t handle) const {
    auto found = objects_.find(handle);
    return found == objects_.end() ? nullptr : &found->second;
  }

  // Throws the NotFound of get().
  [[noreturn]] void failNotFound(uint64_t handle, const std::string& field) const {
    base::fail(base::ErrorCode::kNotFound,
               field + ": " + kind_ + " " + std::to_string(handle) +
                   (handle == 0 ? " is not a valid handle" : " does not exist in this session"));
  }

  std::shared_ptr<T> remove(uint64_t handle, const std::string& field) {
    std::shared_ptr<T> object = get(handle, field);
    objects_.erase(handle);
    return object;
  }

  size_t size() const { return objects_.size(); }
  const std::unordered_map<uint64_t, std::shared_ptr<T>>& all() const { return objects_; }
  void clear() { objects_.clear(); }

 private:
  const char* kind_;
  std::unordered_map<uint64_t, std::shared_ptr<T>> objects_;
};

}  // namespace kp::service
