#pragma once
// The damage tracker's TileDiffAccelerator on Vulkan: the previous frame stays on the GPU, each
// new one is uploaded once and diffed there; the classifier's per-tile state lives there too.
#include <memory>
#include <string>

#include "core/tile_diff_accelerator.h"
#include "gpu/device_select.h"
#include "gpu/frame_pipeline.h"

namespace tessera::gpu {

class GpuTileAccelerator final : public TileDiffAccelerator {
 public:
  explicit GpuTileAccelerator(std::shared_ptr<VulkanContext> ctx);
  std::string name() const override;
  void reset(const TileGrid& grid, const ClassifierConfig& cfg) override;
  void set_reference(const Frame& f) override;
  void diff(const Frame& f, std::vector<uint8_t>& changed) override;
  void classify(const std::vector<uint8_t>& changed, Clock::time_point now, std::vector<uint8_t>& motion) override;

  // Per-tile edge counts of the last diff (changed tiles only), and the last stage times.
  const std::vector<uint32_t>& edges() const { return pipe_.edges(); }
  const StageTimes& times() const { return pipe_.times(); }
  FramePipeline& pipeline() { return pipe_; }

 private:
  FramePipeline pipe_;
};

// What --gpu asks for: the accelerator on the chosen device, or null to stay on the CPU. Logs
// the device chosen or the reason for the CPU path; `reason` (if given) receives it too.
std::shared_ptr<GpuTileAccelerator> make_tile_accelerator(GpuChoice choice, std::string* reason = nullptr);

}  // namespace tessera::gpu
