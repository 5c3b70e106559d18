#include "gpu/shaders.h"

namespace tessera::gpu {

namespace {
// glslc -mfmt=c writes each module as a C initializer list of 32-bit words.
constexpr uint32_t kTileDiff[] =
#include "tile_diff.spv.inc"
    ;
constexpr uint32_t kClassify[] =
#include "classify.spv.inc"
    ;
constexpr uint32_t kBgrxToYuv[] =
#include "bgrx_to_yuv.spv.inc"
    ;
}  // namespace

std::span<const uint32_t> tile_diff_spirv() { return kTileDiff; }
std::span<const uint32_t> classify_spirv() { return kClassify; }
std::span<const uint32_t> bgrx_to_yuv_spirv() { return kBgrxToYuv; }

}  // namespace tessera::gpu
