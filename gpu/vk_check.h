#pragma once
// Every VkResult is checked; a failure becomes a GpuError that says which call failed and why.
#include <vulkan/vulkan.h>

#include <stdexcept>
#include <string>

namespace tessera::gpu {

class GpuError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

const char* vk_result_name(VkResult r);

inline void vk_check(VkResult r, const char* what) {
  if (r != VK_SUCCESS) throw GpuError(std::string(what) + " failed: " + vk_result_name(r));
}

}  // namespace tessera::gpu
