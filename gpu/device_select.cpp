#include "gpu/device_select.h"

#include <fmt/format.h>

#include <charconv>

namespace tessera::gpu {

namespace {

// Why a device cannot run the compute shaders, or empty.
std::string unusable(const DeviceInfo& d) {
  if (!d.has_compute_queue) return fmt::format("'{}' has no compute queue", d.name);
  if (d.api_version < kMinApiVersion)
    return fmt::format("'{}' offers Vulkan {}, the GPU path needs {}", d.name, api_version_string(d.api_version),
                       api_version_string(kMinApiVersion));
  return {};
}

std::string describe(const DeviceInfo& d, size_t i) {
  return fmt::format("device {} '{}' ({}, Vulkan {})", i, d.name, to_string(d.type), api_version_string(d.api_version));
}

}  // namespace

std::string_view to_string(DeviceType t) {
  switch (t) {
    case DeviceType::discrete: return "discrete GPU";
    case DeviceType::integrated: return "integrated GPU";
    case DeviceType::virtual_gpu: return "virtual GPU";
    case DeviceType::cpu: return "software (CPU)";
    case DeviceType::other: return "other";
  }
  return "?";
}

std::string api_version_string(uint32_t v) {
  return fmt::format("{}.{}.{}", (v >> 22) & 0x7F, (v >> 12) & 0x3FF, v & 0xFFF);
}

std::optional<GpuChoice> parse_gpu_choice(std::string_view s) {
  if (s == "auto") return GpuChoice{GpuMode::automatic, 0};
  if (s == "off") return GpuChoice{GpuMode::off, 0};
  if (s == "software") return GpuChoice{GpuMode::software, 0};
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return GpuChoice{GpuMode::index, n};
}

std::string to_string(GpuChoice c) {
  switch (c.mode) {
    case GpuMode::automatic: return "auto";
    case GpuMode::off: return "off";
    case GpuMode::software: return "software";
    case GpuMode::index: return std::to_string(c.index);
  }
  return "?";
}

DeviceSelection select_device(const std::vector<DeviceInfo>& devices, GpuChoice choice) {
  if (choice.mode == GpuMode::off) return {std::nullopt, "GPU path off (--gpu off)"};
  if (devices.empty()) return {std::nullopt, "no Vulkan device found"};
  if (choice.mode == GpuMode::index) {
    if (choice.index >= devices.size())
      return {std::nullopt, fmt::format("no Vulkan device {} ({} found)", choice.index, devices.size())};
    const DeviceInfo& d = devices[choice.index];
    if (auto why = unusable(d); !why.empty()) return {std::nullopt, why};
    return {choice.index, describe(d, choice.index) + ", as asked"};
  }
  std::vector<std::string> rejected;
  auto first_of = [&](DeviceType t) -> std::optional<size_t> {
    for (size_t i = 0; i < devices.size(); ++i) {
      if (devices[i].type != t) continue;
      if (auto why = unusable(devices[i]); !why.empty()) {
        rejected.push_back(why);
        continue;
      }
      return i;
    }
    return std::nullopt;
  };
  if (choice.mode == GpuMode::software) {
    if (auto i = first_of(DeviceType::cpu)) return {*i, describe(devices[*i], *i) + ", software as asked"};
    std::string why = "no software Vulkan device (lavapipe, package mesa-vulkan-drivers)";
    for (const auto& r : rejected) why += "; " + r;
    return {std::nullopt, why};
  }
  for (DeviceType t : {DeviceType::discrete, DeviceType::integrated, DeviceType::virtual_gpu})
    if (auto i = first_of(t)) return {*i, describe(devices[*i], *i) + ", the best hardware device"};
  std::string why = "no usable hardware Vulkan device";
  for (const auto& r : rejected) why += "; " + r;
  for (const auto& d : devices)
    if (d.type == DeviceType::cpu) {
      why += fmt::format("; only the software rasteriser '{}' (--gpu software runs the GPU path on it)", d.name);
      break;
    }
  return {std::nullopt, why};
}

}  // namespace tessera::gpu
