#include "transport/vnc/pixel_format.h"

#include <fmt/format.h>

#include "transport/vnc/rfb_wire.h"

namespace tessera::vnc {

namespace {
int bits(uint32_t max) {
  int n = 0;
  while (max >> n) ++n;
  return n;
}
}  // namespace

PixelFormat PixelFormat::parse(std::span<const uint8_t> sixteen) {
  BeReader r(sixteen, "pixel format");
  PixelFormat pf;
  pf.bpp = r.u8();
  pf.depth = r.u8();
  pf.big_endian = r.u8() != 0;
  pf.true_colour = r.u8() != 0;
  pf.red_max = r.u16();
  pf.green_max = r.u16();
  pf.blue_max = r.u16();
  pf.red_shift = r.u8();
  pf.green_shift = r.u8();
  pf.blue_shift = r.u8();
  if (pf.bpp != 8 && pf.bpp != 16 && pf.bpp != 32)
    throw ProtocolError(fmt::format("pixel format with {} bits per pixel (8, 16 or 32 only)", pf.bpp));
  if (!pf.true_colour) throw ProtocolError("colour-map pixel formats are not served (true colour only)");
  for (auto [max, shift, name] : {std::tuple{pf.red_max, pf.red_shift, "red"}, std::tuple{pf.green_max, pf.green_shift, "green"},
                                  std::tuple{pf.blue_max, pf.blue_shift, "blue"}}) {
    // Each channel must be a run of low bits (max = 2^n - 1) that fits in the pixel.
    if (max == 0 || (max & (max + 1u)) != 0 || shift + bits(max) > pf.bpp)
      throw ProtocolError(fmt::format("pixel format: {} max {} at shift {} does not fit {} bits per pixel", name, max,
                                      shift, pf.bpp));
  }
  return pf;
}

void PixelFormat::write(std::vector<uint8_t>& out) const {
  BeWriter w;
  w.u8(bpp).u8(depth).u8(big_endian).u8(true_colour).u16(red_max).u16(green_max).u16(blue_max);
  w.u8(red_shift).u8(green_shift).u8(blue_shift).zeros(3);
  auto b = w.take();
  out.insert(out.end(), b.begin(), b.end());
}

std::string PixelFormat::describe() const {
  return fmt::format("{} bpp depth {} {} R{}@{} G{}@{} B{}@{}", bpp, depth, big_endian ? "BE" : "LE", bits(red_max),
                     red_shift, bits(green_max), green_shift, bits(blue_max), blue_shift);
}

bool PixelFormat::tight_rgb24() const {
  return bpp == 32 && depth == 24 && red_max == 255 && green_max == 255 && blue_max == 255;
}

size_t PixelFormat::cpixel_bytes() const {
  if (bpp != 32 || depth > 24) return bytes_per_pixel();
  uint32_t used = uint32_t(red_max) << red_shift | uint32_t(green_max) << green_shift | uint32_t(blue_max) << blue_shift;
  return (used & 0xFF000000u) == 0 || (used & 0xFFu) == 0 ? 3 : 4;
}

size_t PixelFormat::cpixel_offset() const {
  if (cpixel_bytes() != 3) return 0;
  uint32_t used = uint32_t(red_max) << red_shift | uint32_t(green_max) << green_shift | uint32_t(blue_max) << blue_shift;
  bool fits_low = (used & 0xFF000000u) == 0;
  // Keep the 3 bytes that hold the bits: in memory order, little-endian puts the low bytes first.
  if (fits_low) return big_endian ? 1 : 0;
  return big_endian ? 0 : 1;
}

uint32_t PixelFormat::pack(uint32_t rgb) const {
  uint32_t r = rgb >> 16 & 0xFF, g = rgb >> 8 & 0xFF, b = rgb & 0xFF;
  // Scale 0..255 to 0..max with rounding, as a client expects full white to be max.
  auto scale = [](uint32_t v, uint32_t max) { return max == 255 ? v : (v * max + 127) / 255; };
  return scale(r, red_max) << red_shift | scale(g, green_max) << green_shift | scale(b, blue_max) << blue_shift;
}

void PixelFormat::put(std::vector<uint8_t>& out, uint32_t v) const {
  switch (bpp) {
    case 8: out.push_back(uint8_t(v)); break;
    case 16:
      if (big_endian) {
        out.push_back(uint8_t(v >> 8));
        out.push_back(uint8_t(v));
      } else {
        out.push_back(uint8_t(v));
        out.push_back(uint8_t(v >> 8));
      }
      break;
    default:
      if (big_endian) {
        out.push_back(uint8_t(v >> 24));
        out.push_back(uint8_t(v >> 16));
        out.push_back(uint8_t(v >> 8));
        out.push_back(uint8_t(v));
      } else {
        out.push_back(uint8_t(v));
        out.push_back(uint8_t(v >> 8));
        out.push_back(uint8_t(v >> 16));
        out.push_back(uint8_t(v >> 24));
      }
  }
}

void PixelFormat::convert(const Frame& f, const Rect& r, std::vector<uint8_t>& out) const {
  out.reserve(out.size() + size_t(r.width) * size_t(r.height) * bytes_per_pixel());
  bool native = *this == server_native();
  for (int y = r.y; y < r.y + r.height; ++y) {
    const uint32_t* row = f.row(y) + r.x;
    if (native) {
      auto* p = reinterpret_cast<const uint8_t*>(row);
      out.insert(out.end(), p, p + size_t(r.width) * 4);
      continue;
    }
    for (int x = 0; x < r.width; ++x) put(out, pack(row[x] & 0xFFFFFFu));
  }
}

}  // namespace tessera::vnc
