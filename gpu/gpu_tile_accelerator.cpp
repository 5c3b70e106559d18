#include "gpu/gpu_tile_accelerator.h"

#include <fmt/format.h>

#include "core/log.h"

namespace tessera::gpu {

GpuTileAccelerator::GpuTileAccelerator(std::shared_ptr<VulkanContext> ctx) : pipe_(std::move(ctx)) {}

std::string GpuTileAccelerator::name() const { return "Vulkan: " + pipe_.context().description(); }

void GpuTileAccelerator::reset(const TileGrid& grid, const ClassifierConfig& cfg) {
  pipe_.reset(grid.frame(), grid.tile(), cfg);
}

void GpuTileAccelerator::set_reference(const Frame& f) {
  pipe_.begin();
  pipe_.record_upload(f);
  pipe_.submit();
}

void GpuTileAccelerator::diff(const Frame& f, std::vector<uint8_t>& changed) {
  if (!pipe_.has_reference()) throw GpuError("GPU tile diff without a reference frame");
  pipe_.begin();
  pipe_.record_upload(f);
  pipe_.record_diff();
  pipe_.submit();
  const auto& out = pipe_.changed();
  if (changed.size() != out.size())
    throw GpuError(fmt::format("GPU tile diff: {} tiles asked, grid has {}", changed.size(), out.size()));
  for (size_t i = 0; i < out.size(); ++i) changed[i] |= out[i];
}

void GpuTileAccelerator::classify(const std::vector<uint8_t>& changed, Clock::time_point now,
                                  std::vector<uint8_t>& motion) {
  pipe_.begin();
  pipe_.record_classify(now, &changed);
  pipe_.submit();
  motion = pipe_.motion();
}

std::shared_ptr<GpuTileAccelerator> make_tile_accelerator(GpuChoice choice, std::string* reason) {
  std::string why;
  std::shared_ptr<GpuTileAccelerator> out;
  if (auto ctx = VulkanContext::create(choice, why)) {
    try {
      out = std::make_shared<GpuTileAccelerator>(ctx);
      spdlog::info("gpu: tile diff and classifier on {} ({})", ctx->description(), why);
    } catch (const std::exception& e) {
      why = fmt::format("{}: {}", ctx->report().info.name, e.what());
    }
  }
  if (!out) {
    // Asked for a device that is not there: worth a warning; auto without a GPU is normal.
    if (choice.mode == GpuMode::software || choice.mode == GpuMode::index)
      spdlog::warn("gpu: tile diff and classifier on the CPU: {}", why);
    else
      spdlog::info("gpu: tile diff and classifier on the CPU: {}", why);
  }
  if (reason) *reason = why;
  return out;
}

}  // namespace tessera::gpu
