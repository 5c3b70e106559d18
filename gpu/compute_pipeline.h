#pragma once
// One compute shader (SPIR-V embedded at build time) with its storage buffers in one descriptor
// set and its parameters as push constants. Buffers are rebound only when they change (a new
// frame size, the ping-pong of frame buffers), never allocated per dispatch.
#include <vulkan/vulkan.h>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

namespace tessera::gpu {

class VulkanContext;

class ComputePipeline {
 public:
  ComputePipeline(const VulkanContext& ctx, std::string name, std::span<const uint32_t> spirv, uint32_t buffers,
                  uint32_t push_bytes);
  ~ComputePipeline();
  ComputePipeline(const ComputePipeline&) = delete;
  ComputePipeline& operator=(const ComputePipeline&) = delete;

  // Binds `buffers` to bindings 0..n-1 (whole buffers). Only between submissions.
  void bind_buffers(std::initializer_list<VkBuffer> buffers);
  // The buffers were freed: a new buffer may reuse an old handle, so the next bind rewrites.
  void forget_buffers() { bound_.clear(); }
  // Records the dispatch of groups x*y*z with `push` as the push constants.
  void dispatch(VkCommandBuffer cb, const void* push, uint32_t x, uint32_t y, uint32_t z = 1) const;
  const std::string& name() const { return name_; }

 private:
  void destroy();
  VkDevice device_;
  std::string name_;
  uint32_t buffers_, push_bytes_;
  std::vector<VkBuffer> bound_;
  VkShaderModule module_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
  VkDescriptorSet set_ = VK_NULL_HANDLE;
};

}  // namespace tessera::gpu
