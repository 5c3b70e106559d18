#include "gpu/compute_pipeline.h"

#include <fmt/format.h>

#include "gpu/vk_context.h"

namespace tessera::gpu {

ComputePipeline::ComputePipeline(const VulkanContext& ctx, std::string name, std::span<const uint32_t> spirv,
                                 uint32_t buffers, uint32_t push_bytes)
    : device_(ctx.device()), name_(std::move(name)), buffers_(buffers), push_bytes_(push_bytes) {
  if (push_bytes > ctx.max_push_constants())
    throw GpuError(fmt::format("{}: needs {} bytes of push constants, the device offers {}", name_, push_bytes,
                               ctx.max_push_constants()));
  try {
    VkShaderModuleCreateInfo sm{};
    sm.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
    sm.codeSize = spirv.size_bytes();
    sm.pCode = spirv.data();
    vk_check(vkCreateShaderModule(device_, &sm, nullptr, &module_), "vkCreateShaderModule");

    std::vector<VkDescriptorSetLayoutBinding> binds(buffers);
    for (uint32_t i = 0; i < buffers; ++i) {
      binds[i].binding = i;
      binds[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      binds[i].descriptorCount = 1;
      binds[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo dl{};
    dl.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
    dl.bindingCount = buffers;
    dl.pBindings = binds.data();
    vk_check(vkCreateDescriptorSetLayout(device_, &dl, nullptr, &set_layout_), "vkCreateDescriptorSetLayout");

    VkPushConstantRange pr{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes};
    VkPipelineLayoutCreateInfo pl{};
    pl.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    pl.setLayoutCount = 1;
    pl.pSetLayouts = &set_layout_;
    pl.pushConstantRangeCount = push_bytes ? 1 : 0;
    pl.pPushConstantRanges = &pr;
    vk_check(vkCreatePipelineLayout(device_, &pl, nullptr, &layout_), "vkCreatePipelineLayout");

    VkComputePipelineCreateInfo cp{};
    cp.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
    cp.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    cp.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    cp.stage.module = module_;
    cp.stage.pName = "main";
    cp.layout = layout_;
    vk_check(vkCreateComputePipelines(device_, VK_NULL_HANDLE, 1, &cp, nullptr, &pipeline_),
             "vkCreateComputePipelines");

    VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, buffers};
    VkDescriptorPoolCreateInfo dp{};
    dp.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
    dp.maxSets = 1;
    dp.poolSizeCount = 1;
    dp.pPoolSizes = &ps;
    vk_check(vkCreateDescriptorPool(device_, &dp, nullptr, &pool_), "vkCreateDescriptorPool");
    VkDescriptorSetAllocateInfo da{};
    da.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
    da.descriptorPool = pool_;
    da.descriptorSetCount = 1;
    da.pSetLayouts = &set_layout_;
    vk_check(vkAllocateDescriptorSets(device_, &da, &set_), "vkAllocateDescriptorSets");
  } catch (const GpuError& e) {
    destroy();
    throw GpuError(name_ + ": " + e.what());
  }
}

ComputePipeline::~ComputePipeline() { destroy(); }

void ComputePipeline::destroy() {
  if (pool_) vkDestroyDescriptorPool(device_, pool_, nullptr);
  if (pipeline_) vkDestroyPipeline(device_, pipeline_, nullptr);
  if (layout_) vkDestroyPipelineLayout(device_, layout_, nullptr);
  if (set_layout_) vkDestroyDescriptorSetLayout(device_, set_layout_, nullptr);
  if (module_) vkDestroyShaderModule(device_, module_, nullptr);
  pool_ = VK_NULL_HANDLE;
  pipeline_ = VK_NULL_HANDLE;
  layout_ = VK_NULL_HANDLE;
  set_layout_ = VK_NULL_HANDLE;
  module_ = VK_NULL_HANDLE;
}

void ComputePipeline::bind_buffers(std::initializer_list<VkBuffer> buffers) {
  if (buffers.size() != buffers_) throw GpuError(fmt::format("{}: {} buffers bound, {} expected", name_, buffers.size(), buffers_));
  std::vector<VkBuffer> want(buffers);
  if (want == bound_) return;
  std::vector<VkDescriptorBufferInfo> infos(buffers_);
  std::vector<VkWriteDescriptorSet> writes(buffers_);
  for (uint32_t i = 0; i < buffers_; ++i) {
    infos[i] = {want[i], 0, VK_WHOLE_SIZE};
    writes[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    writes[i].dstSet = set_;
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(device_, buffers_, writes.data(), 0, nullptr);
  bound_ = std::move(want);
}

void ComputePipeline::dispatch(VkCommandBuffer cb, const void* push, uint32_t x, uint32_t y, uint32_t z) const {
  if (bound_.empty()) throw GpuError(name_ + ": dispatch before its buffers were bound");
  vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
  vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout_, 0, 1, &set_, 0, nullptr);
  if (push_bytes_) vkCmdPushConstants(cb, layout_, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes_, push);
  vkCmdDispatch(cb, x, y, z);
}

}  // namespace tessera::gpu
