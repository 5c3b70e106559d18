#pragma once
// Parsing helpers for the command line.
#include <optional>
#include <string>

#include "core/rect.h"

namespace tessera {

// "1920x1080" -> {1920, 1080}; nullopt unless both are in 1..16384.
std::optional<Size> parse_size(const std::string& text);

}  // namespace tessera
