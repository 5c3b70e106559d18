#pragma once
// A Vulkan instance and one logical device with a compute queue: what every GPU stage shares.
// Devices are chosen by select_device (device_select.h); this class only talks to the loader.
#include <vulkan/vulkan.h>

#include <memory>
#include <string>
#include <vector>

#include "gpu/device_select.h"
#include "gpu/vk_check.h"

namespace tessera::gpu {

// One physical device as `tessera probe` reports it.
struct DeviceReport {
  DeviceInfo info;
  std::string driver;  // "llvmpipe: Mesa 22.3.6 (LLVM 15.0.6)"
  uint32_t vendor_id = 0, device_id = 0;
  uint32_t timestamp_valid_bits = 0;  // of the compute queue; 0: no timestamps
  float timestamp_period_ns = 0;
  uint64_t device_local_bytes = 0;
};

// Every device the loader knows, in its order (that order defines --gpu INDEX). Throws
// GpuError when there is no Vulkan loader or driver at all.
std::vector<DeviceReport> list_devices();

class VulkanContext {
 public:
  // The device chosen by `choice`, or null with `reason` saying why none (no loader, no driver,
  // no suitable device, creation failed); on success `reason` says why this device.
  static std::shared_ptr<VulkanContext> create(GpuChoice choice, std::string& reason);
  ~VulkanContext();
  VulkanContext(const VulkanContext&) = delete;
  VulkanContext& operator=(const VulkanContext&) = delete;

  VkDevice device() const { return device_; }
  VkPhysicalDevice physical() const { return physical_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return family_; }
  const DeviceReport& report() const { return report_; }
  size_t index() const { return index_; }
  bool has_timestamps() const { return report_.timestamp_valid_bits > 0; }
  uint32_t max_push_constants() const { return max_push_; }
  // A memory type index with all of `want` among `type_bits`; throws when there is none.
  uint32_t memory_type(uint32_t type_bits, VkMemoryPropertyFlags want) const;
  // "llvmpipe (LLVM 15.0.6, 256 bits), software (CPU), Vulkan 1.3.230, Mesa 22.3.6"
  std::string description() const;

 private:
  VulkanContext() = default;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t family_ = 0;
  uint32_t max_push_ = 0;
  size_t index_ = 0;
  DeviceReport report_;
  VkPhysicalDeviceMemoryProperties mem_{};
};

}  // namespace tessera::gpu
