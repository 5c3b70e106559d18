#include "core/printable.h"

#include <fmt/format.h>

namespace tessera {

std::string printable(std::string_view text, size_t max_bytes) {
  std::string out;
  size_t n = std::min(text.size(), max_bytes);
  out.reserve(n + 16);
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\')
      out += char(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  if (text.size() > n) out += fmt::format("...({} bytes in all)", text.size());
  return out;
}

}  // namespace tessera
