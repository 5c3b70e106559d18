#include "encode/hw_frame_path.h"

#include <fmt/format.h>

#include <utility>

#include "core/log.h"

extern "C" {
#include <libavutil/hwcontext.h>
}

namespace tessera {

namespace {

constexpr uint32_t kNvidia = 0x10de, kAmd = 0x1002, kIntel = 0x8086;

std::string av_error(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, buf, sizeof buf);
  return buf;
}

std::string vendor(uint32_t id) {
  switch (id) {
    case kNvidia: return "NVIDIA";
    case kAmd: return "AMD";
    case kIntel: return "Intel";
    default: return fmt::format("vendor 0x{:04x}", id);
  }
}

}  // namespace

std::string_view to_string(HwFramePath p) {
  switch (p) {
    case HwFramePath::download: return "download";
    case HwFramePath::cuda_from_vulkan: return "cuda-from-vulkan";
    case HwFramePath::drm_prime: return "drm-prime";
  }
  return "?";
}

HwFramePlan choose_hw_frame_path(EncoderKind kind, const GpuForFrames& gpu) {
  if (!gpu.in_use) return {HwFramePath::download, "no GPU in use: frames are converted on the CPU"};
  if (gpu.software)
    return {HwFramePath::download, "the GPU path runs on a software device: its memory is system memory"};
  switch (kind) {
    case EncoderKind::software:
      return {HwFramePath::download, "a software encoder reads system memory"};
    case EncoderKind::nvenc:
      if (gpu.vendor_id == kNvidia) return {HwFramePath::cuda_from_vulkan, "NVENC on the NVIDIA GPU that converts"};
      return {HwFramePath::download, fmt::format("NVENC runs on an NVIDIA GPU, the frames are on {}", vendor(gpu.vendor_id))};
    case EncoderKind::vaapi:
      if (gpu.vendor_id == kAmd || gpu.vendor_id == kIntel)
        return {HwFramePath::drm_prime, fmt::format("VAAPI on the {} GPU that converts, through {}", vendor(gpu.vendor_id),
                                                    gpu.render_node)};
      return {HwFramePath::download, fmt::format("no VAAPI frame sharing with {}", vendor(gpu.vendor_id))};
    case EncoderKind::qsv:
      if (gpu.vendor_id == kIntel)
        return {HwFramePath::drm_prime, fmt::format("QSV on the Intel GPU that converts, through {}", gpu.render_node)};
      return {HwFramePath::download, fmt::format("QSV runs on Intel, the frames are on {}", vendor(gpu.vendor_id))};
  }
  return {HwFramePath::download, "unknown encoder kind"};
}

HwFrameContext HwFrameContext::open(const HwFramePlan& plan, const GpuForFrames& gpu, int32_t width, int32_t height) {
  HwFrameContext c;
  c.reason_ = plan.reason;
  if (plan.path == HwFramePath::download) return c;
  auto fail = [&](std::string why) {
    c.release();
    c.path_ = HwFramePath::download;
    c.reason_ = fmt::format("{} failed ({}): downloading to system memory", to_string(plan.path), why);
    spdlog::warn("hw frames: {}", c.reason_);
    return std::move(c);
  };
  int err = 0;
  AVPixelFormat hw_format = AV_PIX_FMT_CUDA;
  if (plan.path == HwFramePath::cuda_from_vulkan) {
    // The Vulkan device FFmpeg shares with CUDA (matched by UUID when deriving).
    const std::string index = std::to_string(gpu.device_index);
    err = av_hwdevice_ctx_create(&c.vulkan_, AV_HWDEVICE_TYPE_VULKAN, index.c_str(), nullptr, 0);
    if (err < 0) return fail("Vulkan device " + index + ": " + av_error(err));
    err = av_hwdevice_ctx_create_derived(&c.device_, AV_HWDEVICE_TYPE_CUDA, c.vulkan_, 0);
    if (err < 0) return fail("CUDA from Vulkan: " + av_error(err));
  } else {
    // DRM PRIME: one render node; Vulkan and VAAPI both derived from it, so dma-bufs pass between.
    AVBufferRef* drm = nullptr;
    err = av_hwdevice_ctx_create(&drm, AV_HWDEVICE_TYPE_DRM, gpu.render_node.c_str(), nullptr, 0);
    if (err < 0) return fail("DRM device " + gpu.render_node + ": " + av_error(err));
    err = av_hwdevice_ctx_create_derived(&c.vulkan_, AV_HWDEVICE_TYPE_VULKAN, drm, 0);
    if (err >= 0) err = av_hwdevice_ctx_create_derived(&c.device_, AV_HWDEVICE_TYPE_VAAPI, drm, 0);
    av_buffer_unref(&drm);
    if (err < 0) return fail("Vulkan and VAAPI from DRM: " + av_error(err));
    hw_format = AV_PIX_FMT_VAAPI;
  }
  c.frames_ = av_hwframe_ctx_alloc(c.device_);
  if (!c.frames_) return fail("out of memory");
  auto* fc = reinterpret_cast<AVHWFramesContext*>(c.frames_->data);
  fc->format = hw_format;
  fc->sw_format = AV_PIX_FMT_NV12;
  fc->width = width;
  fc->height = height;
  fc->initial_pool_size = 4;
  err = av_hwframe_ctx_init(c.frames_);
  if (err < 0) return fail("frames context: " + av_error(err));
  c.path_ = plan.path;
  return c;
}

void HwFrameContext::release() {
  av_buffer_unref(&frames_);
  av_buffer_unref(&device_);
  av_buffer_unref(&vulkan_);
}

HwFrameContext::~HwFrameContext() { release(); }

HwFrameContext::HwFrameContext(HwFrameContext&& o) noexcept
    : path_(o.path_), reason_(std::move(o.reason_)), vulkan_(std::exchange(o.vulkan_, nullptr)),
      device_(std::exchange(o.device_, nullptr)), frames_(std::exchange(o.frames_, nullptr)) {}

HwFrameContext& HwFrameContext::operator=(HwFrameContext&& o) noexcept {
  if (this != &o) {
    release();
    path_ = o.path_;
    reason_ = std::move(o.reason_);
    vulkan_ = std::exchange(o.vulkan_, nullptr);
    device_ = std::exchange(o.device_, nullptr);
    frames_ = std::exchange(o.frames_, nullptr);
  }
  return *this;
}

}  // namespace tessera
