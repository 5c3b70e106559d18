#include "app/cli_options.h"

#include <charconv>

namespace tessera {

std::optional<Size> parse_size(const std::string& text) {
  auto x = text.find_first_of("xX");
  if (x == std::string::npos) return std::nullopt;
  int w = 0, h = 0;
  const char* b = text.data();
  auto r1 = std::from_chars(b, b + x, w);
  auto r2 = std::from_chars(b + x + 1, b + text.size(), h);
  if (r1.ec != std::errc() || r1.ptr != b + x || r2.ec != std::errc() || r2.ptr != b + text.size())
    return std::nullopt;
  if (w < 1 || h < 1 || w > 16384 || h > 16384) return std::nullopt;
  return Size{w, h};
}

}  // namespace tessera
