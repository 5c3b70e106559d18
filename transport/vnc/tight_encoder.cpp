// Tight (and TightPNG): per rect a solid fill, a palette (two colours as a bitmap, up to 256 as
// indices), JPEG for motion when the client allows it, or full colour through zlib (TightPNG:
// PNG instead). Lossless unless the caller marks the rect as motion with a quality level.
#include <cstddef>
#include <cstdio>

#include <jpeglib.h>
#include <png.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "encode/uniform_bands.h"
#include "transport/vnc/rect_encoder.h"
#include "transport/vnc/rfb_wire.h"

namespace tessera::vnc {

namespace {

constexpr int kMaxWidth = 2048;       // Tight's limit per rect
constexpr int kMaxArea = 65536;       // what clients' buffers expect per rect (as TigerVNC sends)
constexpr size_t kMinToCompress = 12;  // shorter data goes raw, without zlib
// TigerVNC's mapping of the client's level to JPEG quality and subsampling.
constexpr std::array<int, 10> kJpegQuality = {15, 29, 41, 42, 62, 77, 79, 86, 92, 100};

void compact_length(std::vector<uint8_t>& out, size_t n) {
  out.push_back(uint8_t(n & 0x7F) | (n > 0x7F ? 0x80 : 0));
  if (n > 0x7F) {
    out.push_back(uint8_t(n >> 7 & 0x7F) | (n > 0x3FFF ? 0x80 : 0));
    if (n > 0x3FFF) out.push_back(uint8_t(n >> 14));
  }
}

void jpeg_rgb(const Frame& f, const Rect& r, int level, std::vector<uint8_t>& out) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  err.error_exit = [](j_common_ptr) { throw std::runtime_error("libjpeg failed"); };
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  jpeg_mem_dest(&c, &buf, &len);
  c.image_width = JDIMENSION(r.width);
  c.image_height = JDIMENSION(r.height);
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  int q = kJpegQuality[size_t(std::clamp(level, 0, 9))];
  jpeg_set_quality(&c, q, TRUE);
  // 4:2:0 for levels 0-2, 4:2:2 for 3-5, 4:4:4 from 6 (TigerVNC's choice).
  int h = level <= 5 ? 2 : 1, v = level <= 2 ? 2 : 1;
  c.comp_info[0].h_samp_factor = h;
  c.comp_info[0].v_samp_factor = v;
  c.dct_method = JDCT_IFAST;
  jpeg_start_compress(&c, TRUE);
  std::vector<uint8_t> row(size_t(r.width) * 3);
  while (c.next_scanline < c.image_height) {
    int y = r.y + int(c.next_scanline);
    for (int x = 0; x < r.width; ++x) {
      uint32_t p = rgb_at(f, r.x + x, y);
      row[size_t(x) * 3] = uint8_t(p >> 16);
      row[size_t(x) * 3 + 1] = uint8_t(p >> 8);
      row[size_t(x) * 3 + 2] = uint8_t(p);
    }
    JSAMPROW rows[1] = {row.data()};
    jpeg_write_scanlines(&c, rows, 1);
  }
  jpeg_finish_compress(&c);
  out.insert(out.end(), buf, buf + len);
  jpeg_destroy_compress(&c);
  free(buf);
}

void png_rgb(const Frame& f, const Rect& r, std::vector<uint8_t>& out) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw std::runtime_error("libpng failed");
  }
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t n) {
        auto* o = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(p));
        o->insert(o->end(), data, data + n);
      },
      nullptr);
  png_set_IHDR(png, info, png_uint_32(r.width), png_uint_32(r.height), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 3);
  png_write_info(png, info);
  std::vector<uint8_t> row(size_t(r.width) * 3);
  for (int y = r.y; y < r.y + r.height; ++y) {
    for (int x = 0; x < r.width; ++x) {
      uint32_t p = rgb_at(f, r.x + x, y);
      row[size_t(x) * 3] = uint8_t(p >> 16);
      row[size_t(x) * 3 + 1] = uint8_t(p >> 8);
      row[size_t(x) * 3 + 2] = uint8_t(p);
    }
    png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
}

class TightEncoder : public RectEncoder {
 public:
  explicit TightEncoder(bool png) : png_(png) {}
  int32_t encoding() const override { return png_ ? rfb::kTightPng : rfb::kTight; }

  size_t encode(const Frame& f, const Rect& r, const PixelFormat& pf, const EncodeOptions& o,
                std::vector<uint8_t>& out) override {
    size_t count = 0;
    // Uniform bands go as single fills, whatever their area: a fill needs no client buffer.
    for (const Band& band : uniform_bands(f, r)) {
      const Rect& b = band.rect;
      int cw = std::min(b.width, kMaxWidth);
      int ch = band.solid ? b.height : std::max(1, std::min(b.height, kMaxArea / cw));
      for (int y = b.y; y < b.y + b.height; y += ch)
        for (int x = b.x; x < b.x + b.width; x += cw) {
          Rect c{x, y, std::min(cw, b.x + b.width - x), std::min(ch, b.y + b.height - y)};
          put_rect_header(out, c, encoding());
          if (band.solid) {
            out.push_back(0x80);  // fill
            tpixel(pf, *band.solid, out);
          } else {
            chunk(f, c, pf, o, out);
          }
          ++count;
        }
    }
    return count;
  }

 private:
  void tpixel(const PixelFormat& pf, uint32_t rgb, std::vector<uint8_t>& out) const {
    if (pf.tight_rgb24()) {
      out.push_back(uint8_t(rgb >> 16));
      out.push_back(uint8_t(rgb >> 8));
      out.push_back(uint8_t(rgb));
    } else {
      pf.put(out, pf.pack(rgb));
    }
  }

  // Data after the filter: raw when short, else compact length + zlib on `stream`.
  void put_data(int stream, const std::vector<uint8_t>& data, const EncodeOptions& o, std::vector<uint8_t>& out) {
    if (data.size() < kMinToCompress) {
      out.insert(out.end(), data.begin(), data.end());
      return;
    }
    zbuf_.clear();
    z_[size_t(stream)].set_level(std::max(1, o.compress_level));
    z_[size_t(stream)].compress(data.data(), data.size(), zbuf_);
    compact_length(out, zbuf_.size());
    out.insert(out.end(), zbuf_.begin(), zbuf_.end());
  }

  void chunk(const Frame& f, const Rect& r, const PixelFormat& pf, const EncodeOptions& o, std::vector<uint8_t>& out) {
    // Colours, up to 257 (one past the palette limit).
    index_.clear();
    palette_.clear();
    uint32_t last = ~0u;  // runs of one colour skip the hash table
    for (int y = r.y; y < r.y + r.height && palette_.size() <= 256; ++y)
      for (int x = r.x; x < r.x + r.width; ++x) {
        uint32_t p = rgb_at(f, x, y);
        if (p == last) continue;
        last = p;
        if (index_.emplace(p, uint8_t(palette_.size())).second) {
          palette_.push_back(p);
          if (palette_.size() > 256) break;
        }
      }
    if (palette_.size() == 1) {
      out.push_back(0x80);  // fill
      tpixel(pf, palette_[0], out);
      return;
    }
    bool jpeg = o.lossy_ok && o.jpeg_quality >= 0 && pf.bpp >= 16 && palette_.size() > 64;
    if (jpeg) {
      out.push_back(0x90);
      buf_.clear();
      jpeg_rgb(f, r, o.jpeg_quality, buf_);
      compact_length(out, buf_.size());
      out.insert(out.end(), buf_.begin(), buf_.end());
      return;
    }
    if (png_) {
      // TightPNG has no basic (zlib) mode: everything else lossless goes as PNG.
      out.push_back(0xA0);
      buf_.clear();
      png_rgb(f, r, buf_);
      compact_length(out, buf_.size());
      out.insert(out.end(), buf_.begin(), buf_.end());
      return;
    }
    buf_.clear();
    if (palette_.size() == 2) {
      out.push_back(0x50);  // stream 1, explicit filter
      out.push_back(1);     // palette
      out.push_back(1);     // two colours
      tpixel(pf, palette_[0], out);
      tpixel(pf, palette_[1], out);
      for (int y = r.y; y < r.y + r.height; ++y) {
        uint8_t byte = 0;
        int used = 0;
        for (int x = r.x; x < r.x + r.width; ++x) {
          byte = uint8_t(byte | index_[rgb_at(f, x, y)] << (7 - used));
          if (++used == 8) {
            buf_.push_back(byte);
            byte = 0;
            used = 0;
          }
        }
        if (used) buf_.push_back(byte);
      }
      put_data(1, buf_, o, out);
      return;
    }
    if (palette_.size() <= 256) {
      out.push_back(0x60);  // stream 2, explicit filter
      out.push_back(1);
      out.push_back(uint8_t(palette_.size() - 1));
      for (uint32_t c : palette_) tpixel(pf, c, out);
      for (int y = r.y; y < r.y + r.height; ++y)
        for (int x = r.x; x < r.x + r.width; ++x) buf_.push_back(index_[rgb_at(f, x, y)]);
      put_data(2, buf_, o, out);
      return;
    }
    out.push_back(0x00);  // stream 0, copy filter
    for (int y = r.y; y < r.y + r.height; ++y)
      for (int x = r.x; x < r.x + r.width; ++x) tpixel(pf, rgb_at(f, x, y), buf_);
    put_data(0, buf_, o, out);
  }

  bool png_;
  std::array<ZStream, 4> z_;
  std::vector<uint8_t> buf_, zbuf_;
  std::vector<uint32_t> palette_;
  std::unordered_map<uint32_t, uint8_t> index_;
};

}  // namespace

std::unique_ptr<RectEncoder> make_tight_encoder(bool png) { return std::make_unique<TightEncoder>(png); }

}  // namespace tessera::vnc
