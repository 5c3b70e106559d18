#pragma once
// The GPU stages of one frame, recorded into one command buffer and submitted together:
// upload (host copy into a staging buffer, then a GPU copy into one of two frame buffers), tile
// diff against the previous upload, classifier, BGRX -> YUV of a rectangle of the newest frame.
// Buffers live as long as the frame size; timestamps give the GPU time of each stage.
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/frame.h"
#include "core/region_classifier.h"
#include "gpu/compute_pipeline.h"
#include "gpu/vk_buffer.h"
#include "gpu/vk_context.h"

namespace tessera::gpu {

// Nanoseconds. GPU figures come from timestamp queries (0 when the device has none or the stage
// was not recorded); host_copy is CPU time copying the frame into the staging buffer; wall is
// submit to fence on the CPU.
struct StageTimes {
  double upload = 0, diff = 0, classify = 0, convert = 0;
  double host_copy = 0, wall = 0;
  double gpu_total() const { return upload + diff + classify + convert; }
};

enum class YuvFormat { i420, nv12 };

class FramePipeline {
 public:
  using Clock = std::chrono::steady_clock;
  // Luma step between neighbours that counts as an edge for the per-tile edge density.
  static constexpr uint32_t kEdgeThreshold = 32;

  explicit FramePipeline(std::shared_ptr<VulkanContext> ctx);
  ~FramePipeline();
  FramePipeline(const FramePipeline&) = delete;
  FramePipeline& operator=(const FramePipeline&) = delete;

  // Sizes every buffer for frames of `size`, tiles of `tile`; forgets the reference frame and
  // the classifier's state (all tiles static, never changed).
  void reset(Size size, int32_t tile, const ClassifierConfig& cfg);
  Size size() const { return size_; }
  bool has_reference() const { return last_ >= 0; }
  const VulkanContext& context() const { return *ctx_; }

  // Recording: begin(), then stages in this order (each at most once), then submit().
  void begin();
  void record_upload(const Frame& f);
  // The uploaded frame against the previous upload: changed tiles and their edge counts.
  void record_diff();
  // One classifier step; `changed` from the host, or null to take the diff recorded before.
  void record_classify(Clock::time_point now, const std::vector<uint8_t>* changed);
  // `r` (even size) of the newest frame to YUV 4:2:0, BT.601 or BT.709, limited or full range.
  void record_convert(const Rect& r, YuvFormat format, bool full_range, bool bt709);
  // Runs what was recorded and waits for it; then the results below are current.
  void submit();

  const std::vector<uint8_t>& changed() const { return changed_; }
  const std::vector<uint32_t>& edges() const { return edges_; }
  const std::vector<uint8_t>& motion() const { return motion_; }
  // Copies the last conversion into planes (Y, U, V for I420; Y, UV for NV12) with `strides`.
  void read_yuv(uint8_t* const planes[3], const int32_t strides[3]) const;
  const StageTimes& times() const { return times_; }

 private:
  void destroy();
  enum Stage { kUpload, kDiff, kClassify, kConvert, kStages };
  void barrier(VkAccessFlags src, VkPipelineStageFlags dst_stage, VkAccessFlags dst) const;
  void stage_done(Stage s);
  int newest() const { return pending_ >= 0 ? pending_ : last_; }

  std::shared_ptr<VulkanContext> ctx_;
  ComputePipeline diff_, classify_, convert_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cb_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  VkQueryPool queries_ = VK_NULL_HANDLE;

  Size size_{};
  int32_t tile_ = 0, cols_ = 0, rows_ = 0;
  uint16_t window_mask_ = 0;
  uint32_t enter_changes_ = 0;
  int64_t hold_ns_ = 0;
  GpuBuffer staging_, frames_[2], changed_buf_, edges_buf_, history_, last_change_, motion_buf_, yuv_;
  int last_ = -1;     // frame buffer holding the previous upload
  int pending_ = -1;  // frame buffer written by the submission being recorded
  bool recording_ = false;
  bool did_[kStages] = {};
  uint32_t queries_used_ = 0;
  Stage query_stage_[kStages] = {};
  double host_copy_ns_ = 0;

  // The last conversion's layout in yuv_.
  Rect yuv_rect_{};
  bool broken_ = false;  // a submission failed: this pipeline is not used again
  YuvFormat yuv_format_ = YuvFormat::i420;
  uint32_t y_stride_ = 0, c_stride_ = 0, u_offset_ = 0, v_offset_ = 0;

  std::vector<uint8_t> changed_, motion_;
  std::vector<uint32_t> edges_;
  StageTimes times_;
};

}  // namespace tessera::gpu
