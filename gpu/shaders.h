#pragma once
// The compute shaders of shaders/, compiled to SPIR-V by glslc at build time and embedded.
#include <cstdint>
#include <span>

namespace tessera::gpu {

std::span<const uint32_t> tile_diff_spirv();
std::span<const uint32_t> classify_spirv();
std::span<const uint32_t> bgrx_to_yuv_spirv();

}  // namespace tessera::gpu
