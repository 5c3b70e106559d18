#pragma once
// PNG files in and out of frames. 8-bit colour PNGs load exactly; alpha is dropped (a desktop
// has no transparency), 16-bit channels are reduced to 8 by libpng.
#include <string>

#include "core/frame.h"

namespace tessera {

// Throws std::runtime_error with the file name and libpng's reason.
Frame read_png(const std::string& path);
void write_png(const Frame& frame, const std::string& path);

}  // namespace tessera
