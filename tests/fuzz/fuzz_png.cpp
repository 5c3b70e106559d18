// libFuzzer: a PNG file as a trace frame or image source reads it (`trace:DIR`, `image:PATH`):
// any bytes load or throw std::runtime_error naming the file, and a loaded frame is as large as
// its header says.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "core/png_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/tessera-fuzz-png-" + std::to_string(::getpid()) + ".png";
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  } else {
    return 0;
  }
  try {
    tessera::Frame f = tessera::read_png(path);
    if (f.width() <= 0 || f.height() <= 0) __builtin_trap();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
