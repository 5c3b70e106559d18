#include "app/gpu_cli.h"

#include <fmt/format.h>

#include "gpu/gpu_tile_accelerator.h"
#include "gpu/vk_context.h"

namespace tessera {

void add_gpu_option(CLI::App* cmd, std::string& gpu) {
  cmd->add_option("--gpu", gpu,
                  "Vulkan device for the tile diff and classifier: auto (a discrete GPU, else an integrated one, else "
                  "the CPU path with the reason logged), off, software (Mesa lavapipe, on the CPU), or a device "
                  "index from `tessera probe`")
      ->capture_default_str()
      ->check([](const std::string& s) {
        return gpu::parse_gpu_choice(s) ? std::string() : "expected auto, off, software or a device index";
      });
}

std::shared_ptr<TileDiffAccelerator> gpu_accelerator(const std::string& gpu) {
  auto choice = gpu::parse_gpu_choice(gpu);
  if (!choice) throw std::invalid_argument("--gpu: expected auto, off, software or a device index, not " + gpu);
  return gpu::make_tile_accelerator(*choice);
}

std::string gpu_probe_report(const std::string& gpu) {
  std::string out = "GPU (Vulkan):\n";
  std::vector<gpu::DeviceReport> devices;
  try {
    devices = gpu::list_devices();
  } catch (const gpu::GpuError& e) {
    return out + fmt::format("  no Vulkan: {}\n  -> tile diff and classifier on the CPU\n", e.what());
  }
  if (devices.empty()) out += "  no devices\n";
  for (size_t i = 0; i < devices.size(); ++i) {
    const auto& d = devices[i];
    out += fmt::format("  {}: {} ({}, Vulkan {})\n", i, d.info.name, gpu::to_string(d.info.type),
                       gpu::api_version_string(d.info.api_version));
    out += fmt::format("     driver {}; vendor 0x{:04x} device 0x{:04x}; {} MiB device-local\n", d.driver, d.vendor_id,
                       d.device_id, d.device_local_bytes >> 20);
    out += fmt::format("     compute queue: {}; timestamps: {}\n", d.info.has_compute_queue ? "yes" : "no",
                       d.timestamp_valid_bits
                           ? fmt::format("{} bits, {:.2f} ns per tick", d.timestamp_valid_bits, d.timestamp_period_ns)
                           : std::string("none (stage times not measured)"));
  }
  auto choice = gpu::parse_gpu_choice(gpu);
  if (!choice) return out + "  --gpu " + gpu + ": not a valid choice\n";
  std::string reason;
  auto ctx = gpu::VulkanContext::create(*choice, reason);
  if (!ctx) return out + fmt::format("  --gpu {}: CPU path: {}\n", gpu, reason);
  out += fmt::format("  --gpu {}: {}\n", gpu, reason);
  // Build the pipelines for real, so the probe proves the shaders compile on this driver.
  try {
    gpu::FramePipeline pipe(ctx);
    pipe.reset({64, 64}, 32, {});
    out += fmt::format("     in use: compute shaders tile_diff, classify, bgrx_to_yuv (SPIR-V 1.3, storage buffers, "
                       "push constants, {}); previous frame kept on the device\n",
                       ctx->has_timestamps() ? "timestamp queries per stage" : "no timestamps");
  } catch (const gpu::GpuError& e) {
    out += fmt::format("     the shaders do not run on it: {} -> CPU path\n", e.what());
  }
  return out;
}

}  // namespace tessera
