#pragma once
// How frames converted on the GPU (gpu/, issue 9) reach a hardware encoder: shared with CUDA for
// NVENC (FFmpeg derives a CUDA device from the Vulkan one), shared through DRM PRIME for VAAPI
// and QSV (Vulkan and VAAPI both derived from one DRM render node), or downloaded to system
// memory (every other case, and whenever building the shared path fails, with the reason).
// encode/ does not depend on gpu/: the GPU is described by what the choice needs.
#include <cstdint>
#include <string>

#include "encode/video_encoder.h"

struct AVBufferRef;

namespace tessera {

enum class HwFramePath { download, cuda_from_vulkan, drm_prime };
std::string_view to_string(HwFramePath p);

// The Vulkan device the GPU path runs on.
struct GpuForFrames {
  bool in_use = false;    // false: the CPU path (--gpu off, or no usable device)
  bool software = false;  // lavapipe: its "device memory" is system memory anyway
  uint32_t vendor_id = 0; // PCI vendor: 0x10de NVIDIA, 0x1002 AMD, 0x8086 Intel
  int device_index = 0;   // for FFmpeg's Vulkan device
  std::string render_node = "/dev/dri/renderD128";  // for the DRM PRIME path
};

struct HwFramePlan {
  HwFramePath path = HwFramePath::download;
  std::string reason;
};
// The path for `kind` given the GPU in use: a pure function (tests feed it made-up GPUs).
HwFramePlan choose_hw_frame_path(EncoderKind kind, const GpuForFrames& gpu);

// The FFmpeg hardware contexts of a plan: a device context derived as the plan says and an
// NV12 frames context of the stream's size. When any step fails the path becomes download,
// with FFmpeg's reason, and the failure is logged.
class HwFrameContext {
 public:
  static HwFrameContext open(const HwFramePlan& plan, const GpuForFrames& gpu, int32_t width, int32_t height);
  HwFrameContext() = default;
  ~HwFrameContext();
  HwFrameContext(HwFrameContext&& o) noexcept;
  HwFrameContext& operator=(HwFrameContext&& o) noexcept;
  HwFrameContext(const HwFrameContext&) = delete;
  HwFrameContext& operator=(const HwFrameContext&) = delete;

  HwFramePath path() const { return path_; }
  const std::string& reason() const { return reason_; }
  // The encoder's hw_frames_ctx (null for download).
  AVBufferRef* frames() const { return frames_; }

 private:
  void release();
  HwFramePath path_ = HwFramePath::download;
  std::string reason_;
  AVBufferRef* vulkan_ = nullptr;
  AVBufferRef* device_ = nullptr;  // CUDA or VAAPI, derived
  AVBufferRef* frames_ = nullptr;
};

}  // namespace tessera
