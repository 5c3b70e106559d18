#pragma once
// A VkBuffer with its own memory: device-local for what stays on the GPU (frames, classifier
// state), host-visible and mapped for what crosses to or from the CPU (staging, results).
// Allocated once per frame size, never per frame.
#include <vulkan/vulkan.h>

#include <cstddef>
#include <utility>

namespace tessera::gpu {

class VulkanContext;

class GpuBuffer {
 public:
  enum class Where { device, host };
  GpuBuffer() = default;
  GpuBuffer(const VulkanContext& ctx, VkDeviceSize size, VkBufferUsageFlags usage, Where where);
  ~GpuBuffer() { release(); }
  GpuBuffer(GpuBuffer&& o) noexcept { swap(o); }
  GpuBuffer& operator=(GpuBuffer&& o) noexcept {
    GpuBuffer tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  GpuBuffer(const GpuBuffer&) = delete;
  GpuBuffer& operator=(const GpuBuffer&) = delete;

  VkBuffer handle() const { return buffer_; }
  VkDeviceSize size() const { return size_; }
  // The mapping of a host buffer (coherent: no flushes needed); null for device buffers.
  void* mapped() const { return mapped_; }

 private:
  void release();
  void swap(GpuBuffer& o) noexcept {
    std::swap(device_, o.device_);
    std::swap(buffer_, o.buffer_);
    std::swap(memory_, o.memory_);
    std::swap(size_, o.size_);
    std::swap(mapped_, o.mapped_);
  }
  VkDevice device_ = VK_NULL_HANDLE;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  VkDeviceSize size_ = 0;
  void* mapped_ = nullptr;
};

}  // namespace tessera::gpu
