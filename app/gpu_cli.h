#pragma once
// The GPU path on the command line: `--gpu auto|off|software|INDEX` and the GPU section of
// `tessera probe` (devices, the chosen one, driver, features in use).
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "core/tile_diff_accelerator.h"

namespace tessera {

// Adds --gpu (default auto) to `cmd`, checked as it is parsed.
void add_gpu_option(CLI::App* cmd, std::string& gpu);
// The tracker's accelerator for a --gpu value, or null for the CPU path (the reason is logged).
std::shared_ptr<TileDiffAccelerator> gpu_accelerator(const std::string& gpu);
// What `tessera probe` prints about Vulkan: every device, which one `gpu` selects and why, the
// driver and what the GPU path uses on it.
std::string gpu_probe_report(const std::string& gpu = "auto");

}  // namespace tessera
