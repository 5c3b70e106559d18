#pragma once
// Which Vulkan device runs the GPU path, as a pure function of what the loader reported, so the
// rules are testable with made-up device lists: `auto` takes a discrete GPU, then an integrated
// one, then a virtual one, never a software rasteriser (lavapipe) unless asked for with
// `software`; `off` keeps everything on the CPU; a number picks that device.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::gpu {

enum class DeviceType { discrete, integrated, virtual_gpu, cpu, other };
std::string_view to_string(DeviceType t);

// Vulkan's packing of versions (VK_MAKE_API_VERSION without the variant).
constexpr uint32_t make_api_version(uint32_t major, uint32_t minor, uint32_t patch) {
  return (major << 22) | (minor << 12) | patch;
}
std::string api_version_string(uint32_t v);
// What the GPU path needs: Vulkan 1.1 (16-bit storage not needed, push constants of 128 bytes).
constexpr uint32_t kMinApiVersion = make_api_version(1, 1, 0);

struct DeviceInfo {
  std::string name;
  DeviceType type = DeviceType::other;
  uint32_t api_version = 0;
  bool has_compute_queue = false;
};

enum class GpuMode { automatic, off, software, index };
struct GpuChoice {
  GpuMode mode = GpuMode::automatic;
  uint32_t index = 0;  // for GpuMode::index
};
// "auto", "off", "software" or a device index; nullopt for anything else.
std::optional<GpuChoice> parse_gpu_choice(std::string_view s);
std::string to_string(GpuChoice c);

struct DeviceSelection {
  std::optional<size_t> device;  // index into the list; none: stay on the CPU
  std::string reason;            // why this device, or why none
};
DeviceSelection select_device(const std::vector<DeviceInfo>& devices, GpuChoice choice);

}  // namespace tessera::gpu
