#include "server/engine/instance.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <string>

#include "server/base/error.h"
#include "server/engine/vk_check.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;
namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

bool hasLayer(const char* name) {
  uint32_t count = 0;
  vkEnumerateInstanceLayerProperties(&count, nullptr);
  std::vector<VkLayerProperties> layers(count);
  vkEnumerateInstanceLayerProperties(&count, layers.data());
  for (const auto& layer : layers) {
    if (std::strcmp(layer.layerName, name) == 0) return true;
  }
  return false;
}

bool hasInstanceExtension(const char* name) {
  uint32_t count = 0;
  vkEnumerateInstanceExtensionProperties(nullptr, &count, nullptr);
  std::vector<VkExtensionProperties> extensions(count);
  vkEnumerateInstanceExtensionProperties(nullptr, &count, extensions.data());
  for (const auto& extension : extensions) {
    if (std::strcmp(extension.extensionName, name) == 0) return true;
  }
  return false;
}

}  // namespace

VKAPI_ATTR VkBool32 VKAPI_CALL Instance::onDebugMessage(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
  auto* self = static_cast<Instance*>(user);
  const char* message = data && data->pMessage ? data->pMessage : "";
  if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
    self->validationErrors_.fetch_add(1);
    spdlog::error("vulkan validation: {}", message);
  } else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    spdlog::warn("vulkan validation: {}", message);
  }
  return VK_FALSE;
}

std::shared_ptr<Instance> Instance::create(const InstanceOptions& options) {
  std::shared_ptr<Instance> self(new Instance());

  uint32_t loaderVersion = VK_API_VERSION_1_0;
  if (vkEnumerateInstanceVersion(&loaderVersion) != VK_SUCCESS) loaderVersion = VK_API_VERSION_1_0;

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "kpd";
  app.applicationVersion = VK_MAKE_API_VERSION(0, 0, 1, 0);
  app.pEngineName = "kp";
  app.engineVersion = VK_MAKE_API_VERSION(0, 0, 1, 0);
  app.apiVersion = loaderVersion >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : loaderVersion;

  std::vector<const char*> layers;
  std::vector<const char*> extensions;
  bool validation = false;
  if (options.validation) {
    if (hasLayer(kValidationLayer) && hasInstanceExtension(VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
      layers.push_back(kValidationLayer);
      extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
      validation = true;
    } else {
      spdlog::warn("validation requested but {} is not installed", kValidationLayer);
    }
  }

  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pApplicationInfo = &app;
  info.enabledLayerCount = static_cast<uint32_t>(layers.size());
  info.ppEnabledLayerNames = layers.data();
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  VkResult result = vkCreateInstance(&info, nullptr, &self->instance_);
  if (result != VK_SUCCESS) {
    fail(ErrorCode::kUnavailable, std::string("cannot create a Vulkan instance (") +
                                      vkResultName(result) +
                                      "): is a Vulkan driver installed (e.g. mesa-vulkan-drivers)?");
  }

  if (validation) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(self->instance_, "vkCreateDebugUtilsMessengerEXT"));
    VkDebugUtilsMessengerCreateInfoEXT messenger{
        VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    messenger.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                                VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    messenger.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                            VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                            VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    messenger.pfnUserCallback = &Instance::onDebugMessage;
    messenger.pUserData = self.get();
    if (create) vkCheck(create(self->instance_, &messenger, nullptr, &self->messenger_),
                        "vkCreateDebugUtilsMessengerEXT");
  }

  uint32_t count = 0;
  vkCheck(vkEnumeratePhysicalDevices(self->instance_, &count, nullptr),
          "vkEnumeratePhysicalDevices");
  self->physicalDevices_.resize(count);
  vkCheck(vkEnumeratePhysicalDevices(self->instance_, &count, self->physicalDevices_.data()),
          "vkEnumeratePhysicalDevices");
  for (uint32_t i = 0; i < count; ++i) {
    self->infos_.push_back(queryDeviceInfo(self->physicalDevices_[i], i));
  }
  return self;
}

Instance::~Instance() {
  if (messenger_ != VK_NULL_HANDLE) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
  }
  if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
}

VkPhysicalDevice Instance::physicalDevice(uint32_t index) const {
  deviceInfo(index);
  return physicalDevices_[index];
}

const DeviceInfo& Instance::deviceInfo(uint32_t index) const {
  if (index >= infos_.size()) {
    fail(ErrorCode::kNotFound, "device index " + std::to_string(index) + " does not exist: " +
                                   std::to_string(infos_.size()) + " device(s) available");
  }
  return infos_[index];
}

}  // namespace kp::engine
