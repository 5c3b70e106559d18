// libFuzzer: a TOML bench plan (`tessera bench --config`) is read or refused with a reason,
// whatever the file holds; a plan that loads expands to valid configurations.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "bench/bench_plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/tessera-fuzz-plan-" + std::to_string(::getpid()) + ".toml";
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  } else {
    return 0;
  }
  tessera::bench::BenchPlan plan;
  try {
    tessera::bench::load_plan_toml(path, plan);
  } catch (const std::runtime_error&) {
    return 0;
  }
  try {
    if (plan.sweep.codec.size() * plan.sweep.bitrate_kbps.size() * plan.sweep.tile_size.size() < 64)
      for (const auto& c : plan.configs()) c.validate();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
