#include "gpu/frame_pipeline.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "gpu/shaders.h"

namespace tessera::gpu {

namespace {

// Push constants; layouts match the shaders' `Params` blocks.
struct DiffParams {
  uint32_t width, height, tile, cols, edge_threshold;
};
struct ClassifyParams {
  uint32_t tiles, window_mask, enter_changes, pad;
  uint32_t now_lo, now_hi, hold_lo, hold_hi;
};
struct ConvertParams {
  uint32_t src_width, rx, ry, rw, rh, nv12, y_stride, c_stride, u_offset, v_offset;
  int32_t yr, yg, yb, y_off, ur, ug, ub, vr, vg, vb;
};
static_assert(sizeof(ConvertParams) == 80);

// The coefficients of encode/color_convert.cpp (1/32768 units), which the tests hold us to.
struct Coeffs {
  int32_t yr, yg, yb, y_off, ur, ug, ub, vr, vg, vb;
};
constexpr Coeffs kLimited{8414, 16519, 3208, 16, -4857, -9535, 14392, 14392, -12052, -2340};
constexpr Coeffs kFull{9798, 19235, 3735, 0, -5529, -10855, 16384, 16384, -13720, -2664};
constexpr Coeffs kLimited709{5984, 20127, 2032, 16, -3298, -11094, 14392, 14392, -13072, -1320};
constexpr Coeffs kFull709{6966, 23436, 2366, 0, -3755, -12629, 16384, 16384, -14881, -1503};

constexpr uint32_t kQueries = 1 + 4;  // a start, then the end of each stage

uint32_t align8(int32_t n) { return (uint32_t(n) + 7u) & ~7u; }

double since_ns(std::chrono::steady_clock::time_point t0) {
  return double(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace

FramePipeline::FramePipeline(std::shared_ptr<VulkanContext> ctx)
    : ctx_(std::move(ctx)),
      diff_(*ctx_, "tile_diff.comp", tile_diff_spirv(), 4, sizeof(DiffParams)),
      classify_(*ctx_, "classify.comp", classify_spirv(), 4, sizeof(ClassifyParams)),
      convert_(*ctx_, "bgrx_to_yuv.comp", bgrx_to_yuv_spirv(), 2, sizeof(ConvertParams)) {
  VkDevice dev = ctx_->device();
  try {
    VkCommandPoolCreateInfo pci{};
    pci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = ctx_->queue_family();
    vk_check(vkCreateCommandPool(dev, &pci, nullptr, &pool_), "vkCreateCommandPool");
    VkCommandBufferAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    ai.commandPool = pool_;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    vk_check(vkAllocateCommandBuffers(dev, &ai, &cb_), "vkAllocateCommandBuffers");
    VkFenceCreateInfo fci{};
    fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    vk_check(vkCreateFence(dev, &fci, nullptr, &fence_), "vkCreateFence");
    if (ctx_->has_timestamps()) {
      VkQueryPoolCreateInfo qci{};
      qci.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
      qci.queryType = VK_QUERY_TYPE_TIMESTAMP;
      qci.queryCount = kQueries;
      vk_check(vkCreateQueryPool(dev, &qci, nullptr, &queries_), "vkCreateQueryPool");
    }
  } catch (...) {
    destroy();
    throw;
  }
}

FramePipeline::~FramePipeline() { destroy(); }

void FramePipeline::destroy() {
  VkDevice dev = ctx_->device();
  if (fence_) vkQueueWaitIdle(ctx_->queue());  // after a timed-out wait work may still run
  if (queries_) vkDestroyQueryPool(dev, queries_, nullptr);
  if (fence_) vkDestroyFence(dev, fence_, nullptr);
  if (pool_) vkDestroyCommandPool(dev, pool_, nullptr);
  queries_ = VK_NULL_HANDLE;
  fence_ = VK_NULL_HANDLE;
  pool_ = VK_NULL_HANDLE;
}

void FramePipeline::reset(Size size, int32_t tile, const ClassifierConfig& cfg) {
  if (size.width <= 0 || size.height <= 0 || tile < 1 || tile > 256)  // tile_diff.comp: 256 lanes per tile row
    throw GpuError("GPU frame pipeline: empty frame, or tile not 1..256");
  if (cfg.enter_window < 1 || cfg.enter_window > 16 || cfg.enter_changes < 1 || cfg.enter_changes > cfg.enter_window)
    throw GpuError("GPU classifier: need 1 <= enter_changes <= enter_window <= 16");
  const VulkanContext& c = *ctx_;
  size_ = size;
  tile_ = tile;
  cols_ = (size.width + tile - 1) / tile;
  rows_ = (size.height + tile - 1) / tile;
  window_mask_ = uint16_t((1u << cfg.enter_window) - 1);
  enter_changes_ = uint32_t(cfg.enter_changes);
  // As RegionClassifier: leave motion one frame early, so the repaint is out by lossless_after.
  hold_ns_ = std::max<int64_t>(0, (std::chrono::nanoseconds(cfg.lossless_after) - cfg.frame_interval).count());

  const VkDeviceSize frame_bytes = VkDeviceSize(size.width) * VkDeviceSize(size.height) * 4;
  const VkDeviceSize tiles = VkDeviceSize(cols_) * VkDeviceSize(rows_);
  constexpr VkBufferUsageFlags kStorage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  using W = GpuBuffer::Where;
  // Free the old size first: at 4K the frames alone are 100 MB.
  diff_.forget_buffers();
  classify_.forget_buffers();
  convert_.forget_buffers();
  yuv_rect_ = {};
  staging_ = {};
  frames_[0] = {};
  frames_[1] = {};
  yuv_ = {};
  staging_ = GpuBuffer(c, frame_bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, W::host);
  frames_[0] = GpuBuffer(c, frame_bytes, kStorage, W::device);
  frames_[1] = GpuBuffer(c, frame_bytes, kStorage, W::device);
  changed_buf_ = GpuBuffer(c, tiles * 4, kStorage, W::host);
  edges_buf_ = GpuBuffer(c, tiles * 4, kStorage, W::host);
  motion_buf_ = GpuBuffer(c, tiles * 4, kStorage, W::host);
  history_ = GpuBuffer(c, tiles * 4, kStorage, W::device);
  last_change_ = GpuBuffer(c, tiles * 8, kStorage, W::device);
  // The largest conversion: the whole frame (even part), Y then chroma, rows padded to 8 bytes.
  yuv_ = GpuBuffer(c, VkDeviceSize(align8(size.width)) * VkDeviceSize(size.height + size.height / 2 + 2), kStorage,
                   W::host);
  classify_.bind_buffers({changed_buf_.handle(), history_.handle(), last_change_.handle(), motion_buf_.handle()});
  std::memset(motion_buf_.mapped(), 0, size_t(tiles) * 4);
  std::memset(changed_buf_.mapped(), 0, size_t(tiles) * 4);
  changed_.assign(size_t(tiles), 0);
  motion_.assign(size_t(tiles), 0);
  edges_.assign(size_t(tiles), 0);
  last_ = -1;
  pending_ = -1;

  // Every tile static, never changed.
  begin();
  vkCmdFillBuffer(cb_, history_.handle(), 0, VK_WHOLE_SIZE, 0);
  vkCmdFillBuffer(cb_, last_change_.handle(), 0, VK_WHOLE_SIZE, 0);
  submit();
}

void FramePipeline::barrier(VkAccessFlags src, VkPipelineStageFlags dst_stage, VkAccessFlags dst) const {
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = src;
  mb.dstAccessMask = dst;
  vkCmdPipelineBarrier(cb_, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, dst_stage, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

void FramePipeline::begin() {
  if (size_.width <= 0) throw GpuError("GPU frame pipeline: reset() first");
  if (broken_) throw GpuError("GPU frame pipeline: an earlier submission failed");
  recording_ = false;  // a recording abandoned by an exception is simply started over
  vk_check(vkResetCommandBuffer(cb_, 0), "vkResetCommandBuffer");
  VkCommandBufferBeginInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vk_check(vkBeginCommandBuffer(cb_, &bi), "vkBeginCommandBuffer");
  recording_ = true;
  std::fill(std::begin(did_), std::end(did_), false);
  pending_ = -1;
  host_copy_ns_ = 0;
  queries_used_ = 0;
  // What earlier submissions wrote (classifier state, frames) is visible to this one.
  barrier(VK_ACCESS_MEMORY_WRITE_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
          VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT);
  if (queries_) {
    vkCmdResetQueryPool(cb_, queries_, 0, kQueries);
    vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, queries_used_++);
  }
}

// Ends a stage: its end timestamp, and a barrier so the next stage sees its writes. The stages
// run one after another, so a stage's GPU time is its end minus the previous end.
void FramePipeline::stage_done(Stage s) {
  did_[s] = true;
  barrier(VK_ACCESS_MEMORY_WRITE_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
          VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT);
  if (queries_) {
    query_stage_[queries_used_ - 1] = s;
    vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, queries_used_++);
  }
}

void FramePipeline::record_upload(const Frame& f) {
  if (!recording_ || did_[kUpload] || did_[kDiff] || did_[kClassify] || did_[kConvert])
    throw GpuError("GPU frame pipeline: upload must come first in a submission");
  if (f.size() != size_)
    throw GpuError(fmt::format("GPU frame pipeline: frame is {}x{}, buffers are for {}x{}", f.width(), f.height(),
                               size_.width, size_.height));
  auto t0 = std::chrono::steady_clock::now();
  auto* dst = static_cast<uint8_t*>(staging_.mapped());
  const size_t row = size_t(f.width()) * 4;
  if (size_t(f.stride()) == row) {
    std::memcpy(dst, f.data(), row * size_t(f.height()));
  } else {
    for (int32_t y = 0; y < f.height(); ++y) std::memcpy(dst + size_t(y) * row, f.row(y), row);
  }
  host_copy_ns_ = since_ns(t0);
  pending_ = last_ < 0 ? 0 : 1 - last_;
  VkBufferCopy region{0, 0, staging_.size()};
  vkCmdCopyBuffer(cb_, staging_.handle(), frames_[pending_].handle(), 1, &region);
  stage_done(kUpload);
}

void FramePipeline::record_diff() {
  if (!recording_ || !did_[kUpload] || did_[kDiff]) throw GpuError("GPU frame pipeline: diff needs an upload first");
  if (last_ < 0) throw GpuError("GPU frame pipeline: diff without a previous frame");
  diff_.bind_buffers({frames_[pending_].handle(), frames_[last_].handle(), changed_buf_.handle(), edges_buf_.handle()});
  DiffParams p{uint32_t(size_.width), uint32_t(size_.height), uint32_t(tile_), uint32_t(cols_), kEdgeThreshold};
  diff_.dispatch(cb_, &p, uint32_t(cols_), uint32_t(rows_));
  stage_done(kDiff);
}

void FramePipeline::record_classify(Clock::time_point now, const std::vector<uint8_t>* changed) {
  if (!recording_ || did_[kClassify] || did_[kConvert]) throw GpuError("GPU frame pipeline: classify out of order");
  const size_t tiles = size_t(cols_) * size_t(rows_);
  if (changed) {
    if (did_[kDiff]) throw GpuError("GPU frame pipeline: classify takes the diff's tiles or the host's, not both");
    if (changed->size() != tiles)
      throw GpuError(fmt::format("GPU classifier: {} tiles given, grid has {}", changed->size(), tiles));
    auto* dst = static_cast<uint32_t*>(changed_buf_.mapped());
    for (size_t i = 0; i < tiles; ++i) dst[i] = (*changed)[i] ? 1u : 0u;
  } else if (!did_[kDiff]) {
    throw GpuError("GPU frame pipeline: classify without changed tiles");
  }
  const auto now_bits = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
  const auto hold_bits = uint64_t(hold_ns_);
  ClassifyParams p{uint32_t(tiles),           window_mask_,           enter_changes_,          0,
                   uint32_t(now_bits),        uint32_t(now_bits >> 32), uint32_t(hold_bits), uint32_t(hold_bits >> 32)};
  classify_.dispatch(cb_, &p, uint32_t((tiles + 63) / 64), 1);
  stage_done(kClassify);
}

void FramePipeline::record_convert(const Rect& r, YuvFormat format, bool full_range, bool bt709) {
  if (!recording_ || did_[kConvert]) throw GpuError("GPU frame pipeline: one conversion per submission");
  if (newest() < 0) throw GpuError("GPU frame pipeline: nothing uploaded to convert");
  if (r.width <= 0 || r.height <= 0 || r.width % 2 || r.height % 2)
    throw GpuError("GPU colour conversion: YUV 4:2:0 needs an even, non-zero size");
  if (r.x < 0 || r.y < 0 || r.right() > size_.width || r.bottom() > size_.height)
    throw GpuError("GPU colour conversion: region outside the frame");
  const Coeffs& c = bt709 ? (full_range ? kFull709 : kLimited709) : (full_range ? kFull : kLimited);
  yuv_rect_ = r;
  yuv_format_ = format;
  y_stride_ = align8(r.width);
  c_stride_ = format == YuvFormat::nv12 ? y_stride_ : y_stride_ / 2;
  u_offset_ = y_stride_ * uint32_t(r.height);
  v_offset_ = u_offset_ + c_stride_ * uint32_t(r.height / 2);
  ConvertParams p{uint32_t(size_.width), uint32_t(r.x), uint32_t(r.y), uint32_t(r.width), uint32_t(r.height),
                  format == YuvFormat::nv12 ? 1u : 0u, y_stride_, c_stride_, u_offset_, v_offset_,
                  c.yr, c.yg, c.yb, c.y_off, c.ur, c.ug, c.ub, c.vr, c.vg, c.vb};
  convert_.bind_buffers({frames_[newest()].handle(), yuv_.handle()});
  const uint32_t gx = (uint32_t(r.width) + 7) / 8, gy = uint32_t(r.height) / 2;  // invocations
  convert_.dispatch(cb_, &p, (gx + 7) / 8, (gy + 7) / 8);
  stage_done(kConvert);
}

void FramePipeline::submit() {
  if (!recording_) throw GpuError("GPU frame pipeline: submit() without begin()");
  recording_ = false;
  barrier(VK_ACCESS_MEMORY_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
  VkDevice dev = ctx_->device();
  try {
    vk_check(vkEndCommandBuffer(cb_), "vkEndCommandBuffer");
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cb_;
    auto t0 = std::chrono::steady_clock::now();
    vk_check(vkResetFences(dev, 1, &fence_), "vkResetFences");
    vk_check(vkQueueSubmit(ctx_->queue(), 1, &si, fence_), "vkQueueSubmit");
    // A frame's work takes milliseconds; 5 s means the device is gone.
    vk_check(vkWaitForFences(dev, 1, &fence_, VK_TRUE, 5'000'000'000ull), "vkWaitForFences");
    times_ = {};
    times_.wall = since_ns(t0);
    times_.host_copy = host_copy_ns_;
  } catch (...) {
    last_ = -1;  // what the frame buffers hold is unknown now
    pending_ = -1;
    // The command buffer and fence may still be in use: never reset them again.
    broken_ = true;
    vkDeviceWaitIdle(dev);
    throw;
  }
  if (queries_ && queries_used_ > 1) {
    uint64_t ts[kQueries] = {};
    vk_check(vkGetQueryPoolResults(dev, queries_, 0, queries_used_, sizeof ts, ts, sizeof(uint64_t),
                                   VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
             "vkGetQueryPoolResults");
    const uint32_t bits = ctx_->report().timestamp_valid_bits;
    const uint64_t mask = bits >= 64 ? ~0ull : (1ull << bits) - 1;
    const double period = double(ctx_->report().timestamp_period_ns);
    for (uint32_t i = 1; i < queries_used_; ++i) {
      double ns = double(((ts[i] & mask) - (ts[i - 1] & mask)) & mask) * period;
      switch (query_stage_[i - 1]) {
        case kUpload: times_.upload = ns; break;
        case kDiff: times_.diff = ns; break;
        case kClassify: times_.classify = ns; break;
        case kConvert: times_.convert = ns; break;
        case kStages: break;
      }
    }
  }
  const size_t tiles = changed_.size();
  if (did_[kDiff]) {
    const auto* ch = static_cast<const uint32_t*>(changed_buf_.mapped());
    const auto* ed = static_cast<const uint32_t*>(edges_buf_.mapped());
    for (size_t i = 0; i < tiles; ++i) changed_[i] = ch[i] ? 1 : 0;
    std::memcpy(edges_.data(), ed, tiles * 4);
  }
  if (did_[kClassify]) {
    const auto* mo = static_cast<const uint32_t*>(motion_buf_.mapped());
    for (size_t i = 0; i < tiles; ++i) motion_[i] = mo[i] ? 1 : 0;
  }
  if (pending_ >= 0) last_ = pending_;
  pending_ = -1;
}

void FramePipeline::read_yuv(uint8_t* const planes[3], const int32_t strides[3]) const {
  if (yuv_rect_.empty()) throw GpuError("GPU colour conversion: nothing converted yet");
  const auto* src = static_cast<const uint8_t*>(yuv_.mapped());
  const int32_t w = yuv_rect_.width, h = yuv_rect_.height;
  for (int32_t y = 0; y < h; ++y)
    std::memcpy(planes[0] + size_t(y) * size_t(strides[0]), src + size_t(y) * y_stride_, size_t(w));
  if (yuv_format_ == YuvFormat::nv12) {
    for (int32_t y = 0; y < h / 2; ++y)
      std::memcpy(planes[1] + size_t(y) * size_t(strides[1]), src + u_offset_ + size_t(y) * c_stride_, size_t(w));
  } else {
    for (int32_t y = 0; y < h / 2; ++y) {
      std::memcpy(planes[1] + size_t(y) * size_t(strides[1]), src + u_offset_ + size_t(y) * c_stride_, size_t(w / 2));
      std::memcpy(planes[2] + size_t(y) * size_t(strides[2]), src + v_offset_ + size_t(y) * c_stride_, size_t(w / 2));
    }
  }
}

}  // namespace tessera::gpu
