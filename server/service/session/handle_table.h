// Objects of one kind owned by a session, named by random non-zero 64-bit handles. Handles are
// drawn from the session's own random generator, so they say nothing about other sessions'.
// Not thread-safe: the owning Session locks around it.
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

  uint64_t add(std::shared_ptr<T> object, std::mt19937_64& random) {
    uint64_t handle = 0;
    while (handle == 0 || objects_.count(handle)) handle = random();
    objects_.emplace(handle, std::move(object));
    return handle;
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
