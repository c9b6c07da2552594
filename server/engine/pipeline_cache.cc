#include "server/engine/pipeline_cache.h"

#include "server/engine/vk_check.h"

namespace kp::engine {
namespace {

void append(std::string& key, const void* data, size_t size) {
  key.append(static_cast<const char*>(data), size);
}

}  // namespace

PipelineCache::PipelineCache(VkDevice device, size_t capacity)
    : device_(device), capacity_(capacity) {
  VkPipelineCacheCreateInfo info{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  VkPipelineCache cache = VK_NULL_HANDLE;
  vkCheck(vkCreatePipelineCache(device_, &info, nullptr, &cache), "vkCreatePipelineCache");
  driverCache_ = UniquePipelineCache(device_, cache);
}

template <typename V>
void PipelineCache::remember(Lru<V>& lru, const std::string& key, V value) {
  lru.order.push_front(key);
  lru.entries[key] = {std::move(value), lru.order.begin()};
  while (lru.entries.size() > capacity_) {
    lru.entries.erase(lru.order.back());
    lru.order.pop_back();
  }
}

std::shared_ptr<const UniqueShaderModule> PipelineCache::module(
    const std::vector<uint32_t>& spirv) {
  std::string key;
  append(key, spirv.data(), spirv.size() * sizeof(uint32_t));
  auto found = modules_.entries.find(key);
  if (found != modules_.entries.end()) {
    modules_.order.splice(modules_.order.begin(), modules_.order, found->second.second);
    return found->second.first;
  }
  VkShaderModuleCreateInfo info{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  info.codeSize = spirv.size() * sizeof(uint32_t);
  info.pCode = spirv.data();
  VkShaderModule handle = VK_NULL_HANDLE;
  vkCheck(vkCreateShaderModule(device_, &info, nullptr, &handle), "vkCreateShaderModule");
  auto created = std::make_shared<const UniqueShaderModule>(device_, handle);
  remember(modules_, key, created);
  return created;
}

std::shared_ptr<const Pipeline> PipelineCache::build(const UniqueShaderModule& module,
                                                     uint32_t bindings, uint32_t pushConstantSize,
                                                     const Constants& specConstants) {
  auto pipeline = std::make_shared<Pipeline>();
  pipeline->bindings = bindings;
  pipeline->pushConstantSize = pushConstantSize;

  std::vector<VkDescriptorSetLayoutBinding> layoutBindings(bindings);
  for (uint32_t i = 0; i < bindings; ++i) {
    layoutBindings[i].binding = i;
    layoutBindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    layoutBindings[i].descriptorCount = 1;
    layoutBindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo setInfo{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  setInfo.bindingCount = bindings;
  setInfo.pBindings = layoutBindings.data();
  VkDescriptorSetLayout setLayout = VK_NULL_HANDLE;
  vkCheck(vkCreateDescriptorSetLayout(device_, &setInfo, nullptr, &setLayout),
          "vkCreateDescriptorSetLayout");
  pipeline->setLayout = UniqueDescriptorSetLayout(device_, setLayout);

  VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, pushConstantSize};
  VkPipelineLayoutCreateInfo layoutInfo{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  layoutInfo.setLayoutCount = 1;
  layoutInfo.pSetLayouts = &setLayout;
  layoutInfo.pushConstantRangeCount = pushConstantSize > 0 ? 1 : 0;
  layoutInfo.pPushConstantRanges = &range;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  vkCheck(vkCreatePipelineLayout(device_, &layoutInfo, nullptr, &layout),
          "vkCreatePipelineLayout");
  pipeline->layout = UniquePipelineLayout(device_, layout);

  const uint32_t size = static_cast<uint32_t>(elementSize(specConstants.type));
  std::vector<VkSpecializationMapEntry> entries(specConstants.count());
  for (uint32_t i = 0; i < entries.size(); ++i) entries[i] = {i, i * size, size};
  VkSpecializationInfo specialization{};
  specialization.mapEntryCount = static_cast<uint32_t>(entries.size());
  specialization.pMapEntries = entries.data();
  specialization.dataSize = specConstants.bytes.size();
  specialization.pData = specConstants.bytes.data();

  VkComputePipelineCreateInfo info{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  info.stage.module = module.get();
  info.stage.pName = "main";
  info.stage.pSpecializationInfo = entries.empty() ? nullptr : &specialization;
  info.layout = layout;
  VkPipeline handle = VK_NULL_HANDLE;
  vkCheck(vkCreateComputePipelines(device_, driverCache_.get(), 1, &info, nullptr, &handle),
          "vkCreateComputePipelines");
  pipeline->pipeline = UniquePipeline(device_, handle);
  return pipeline;
}

std::shared_ptr<const Pipeline> PipelineCache::get(const std::vector<uint32_t>& spirv,
                                                   uint32_t bindings, uint32_t pushConstantSize,
                                                   const Constants& specConstants) {
  std::string key;
  append(key, &bindings, sizeof(bindings));
  append(key, &pushConstantSize, sizeof(pushConstantSize));
  const auto type = static_cast<uint32_t>(specConstants.type);
  append(key, &type, sizeof(type));
  const auto specSize = static_cast<uint64_t>(specConstants.bytes.size());
  append(key, &specSize, sizeof(specSize));
  append(key, specConstants.bytes.data(), specConstants.bytes.size());
  append(key, spirv.data(), spirv.size() * sizeof(uint32_t));

  base::MutexLock lock(mutex_);
  auto found = pipelines_.entries.find(key);
  if (found != pipelines_.entries.end()) {
    ++hits_;
    pipelines_.order.splice(pipelines_.order.begin(), pipelines_.order, found->second.second);
    return found->second.first;
  }
  ++misses_;
  auto shader = module(spirv);
  auto pipeline = build(*shader, bindings, pushConstantSize, specConstants);
  remember(pipelines_, key, pipeline);
  return pipeline;
}

size_t PipelineCache::hits() const {
  base::MutexLock lock(mutex_);
  return hits_;
}

size_t PipelineCache::misses() const {
  base::MutexLock lock(mutex_);
  return misses_;
}

size_t PipelineCache::size() const {
  base::MutexLock lock(mutex_);
  return pipelines_.entries.size();
}

}  // namespace kp::engine
