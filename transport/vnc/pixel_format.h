#pragma once
// RFB pixel formats: what a client asked for, and turning our BGRX frames into it. Every
// true-colour format is served (8, 16 or 32 bits per pixel, either byte order, any channel
// maxima and shifts); colour maps are refused with a reason.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/frame.h"

namespace tessera::vnc {

struct PixelFormat {
  uint8_t bpp = 32, depth = 24;
  bool big_endian = false, true_colour = true;
  uint16_t red_max = 255, green_max = 255, blue_max = 255;
  uint8_t red_shift = 16, green_shift = 8, blue_shift = 0;

  // What we announce in ServerInit: the frame's own layout (bytes B, G, R, X).
  static PixelFormat server_native() { return {}; }
  // Throws ProtocolError when the 16 bytes name a format we cannot serve.
  static PixelFormat parse(std::span<const uint8_t> sixteen);
  void write(std::vector<uint8_t>& out) const;
  std::string describe() const;

  size_t bytes_per_pixel() const { return bpp / 8; }
  // Tight's TPIXEL: 3 bytes R, G, B when the format is 32-bit true colour with 8-bit channels.
  bool tight_rgb24() const;
  // ZRLE's CPIXEL is 3 bytes when the used bits fit in 3 of the 4 bytes; which 3: see cpixel_offset.
  size_t cpixel_bytes() const;
  size_t cpixel_offset() const;  // index of the first byte kept (0 or 1) within a 4-byte pixel

  // One pixel (0x00RRGGBB from a BGRX frame) as the client's value, before byte order.
  uint32_t pack(uint32_t rgb) const;
  // Appends `n` bytes of one packed pixel in the client's byte order.
  void put(std::vector<uint8_t>& out, uint32_t packed) const;
  // The client's pixels for `r` of `f`, rows one after another.
  void convert(const Frame& f, const Rect& r, std::vector<uint8_t>& out) const;
  bool operator==(const PixelFormat&) const = default;
};

// 0x00RRGGBB of one frame pixel (BGRX little-endian in memory is exactly that, plus X).
inline uint32_t rgb_at(const Frame& f, int x, int y) { return f.row(y)[x] & 0xFFFFFFu; }

}  // namespace tessera::vnc
