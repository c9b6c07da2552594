// Compute pipelines (and the shader modules they are built from), cached by the SPIR-V's
// content and the layout/specialisation that shape the pipeline. Algorithms with the same
// shader, binding count, push-constant size and specialisation constants share one pipeline.
// Thread-safe. Least-recently-used entries beyond the capacity are dropped from the cache;
// algorithms still holding them keep them alive.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/base/mutex.h"
#include "server/engine/constants.h"
#include "server/engine/vk_handle.h"

namespace kp::engine {

struct Pipeline {
  UniqueDescriptorSetLayout setLayout;
  UniquePipelineLayout layout;
  UniquePipeline pipeline;
  uint32_t bindings = 0;
  uint32_t pushConstantSize = 0;
};

class PipelineCache {
 public:
  explicit PipelineCache(VkDevice device, size_t capacity = 256);

  // Returns the pipeline for these inputs, creating it on a miss.
  std::shared_ptr<const Pipeline> get(const std::vector<uint32_t>& spirv, uint32_t bindings,
                                      uint32_t pushConstantSize, const Constants& specConstants);

  size_t hits() const;
  size_t misses() const;
  size_t size() const;

 private:
  template <typename V>
  struct Lru {
    std::list<std::string> order;  // most recent first
    std::unordered_map<std::string, std::pair<V, std::list<std::string>::iterator>> entries;
  };

  std::shared_ptr<const UniqueShaderModule> module(const std::vector<uint32_t>& spirv)
      KP_REQUIRES(mutex_);
  std::shared_ptr<const Pipeline> build(const UniqueShaderModule& module, uint32_t bindings,
                                        uint32_t pushConstantSize, const Constants& specConstants);
  template <typename V>
  void remember(Lru<V>& lru, const std::string& key, V value) KP_REQUIRES(mutex_);

  VkDevice device_;
  size_t capacity_;
  UniquePipelineCache driverCache_;
  mutable base::Mutex mutex_;
  Lru<std::shared_ptr<const UniqueShaderModule>> modules_ KP_GUARDED_BY(mutex_);
  Lru<std::shared_ptr<const Pipeline>> pipelines_ KP_GUARDED_BY(mutex_);
  size_t hits_ KP_GUARDED_BY(mutex_) = 0;
  size_t misses_ KP_GUARDED_BY(mutex_) = 0;
};

}  // namespace kp::engine
