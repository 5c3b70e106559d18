// ZRLE: 64x64 tiles on one zlib stream per connection; each tile solid, packed palette (up to
// 16 colours), palette RLE (up to 127), plain RLE or raw, whichever is smallest.
#include <algorithm>
#include <unordered_map>

#include "transport/vnc/rect_encoder.h"
#include "transport/vnc/rfb_wire.h"

namespace tessera::vnc {

namespace {

class ZrleEncoder : public RectEncoder {
 public:
  int32_t encoding() const override { return rfb::kZrle; }

  size_t encode(const Frame& f, const Rect& r, const PixelFormat& pf, const EncodeOptions& o,
                std::vector<uint8_t>& out) override {
    put_rect_header(out, r, rfb::kZrle);
    plain_.clear();
    for (int ty = r.y; ty < r.y + r.height; ty += 64)
      for (int tx = r.x; tx < r.x + r.width; tx += 64)
        tile(f, Rect{tx, ty, std::min(64, r.x + r.width - tx), std::min(64, r.y + r.height - ty)}, pf);
    z_.set_level(o.compress_level);
    size_t len_at = out.size();
    out.resize(out.size() + 4);
    z_.compress(plain_.data(), plain_.size(), out);
    uint32_t len = uint32_t(out.size() - len_at - 4);
    for (int i = 0; i < 4; ++i) out[len_at + size_t(i)] = uint8_t(len >> (24 - 8 * i));
    return 1;
  }

 private:
  void cpixel(const PixelFormat& pf, uint32_t rgb) {
    size_t n = pf.cpixel_bytes();
    if (n == pf.bytes_per_pixel()) {
      pf.put(plain_, pf.pack(rgb));
      return;
    }
    tmp_.clear();
    pf.put(tmp_, pf.pack(rgb));
    size_t off = pf.cpixel_offset();
    plain_.insert(plain_.end(), tmp_.begin() + long(off), tmp_.begin() + long(off + n));
  }

  static void run_length(std::vector<uint8_t>& out, size_t len) {
    size_t v = len - 1;
    while (v >= 255) {
      out.push_back(255);
      v -= 255;
    }
    out.push_back(uint8_t(v));
  }

  void tile(const Frame& f, const Rect& t, const PixelFormat& pf) {
    px_.clear();
    for (int y = t.y; y < t.y + t.height; ++y)
      for (int x = t.x; x < t.x + t.width; ++x) px_.push_back(rgb_at(f, x, y));
    index_.clear();
    palette_.clear();
    size_t runs = 0;
    for (size_t i = 0; i < px_.size(); ++i) {
      if (i == 0 || px_[i] != px_[i - 1]) ++runs;
      if (palette_.size() <= 127 && (i == 0 || px_[i] != px_[i - 1]) && !index_.count(px_[i])) {
        index_[px_[i]] = uint8_t(palette_.size());
        palette_.push_back(px_[i]);
      }
    }
    size_t cp = pf.cpixel_bytes(), n = px_.size();
    if (palette_.size() == 1) {
      plain_.push_back(1);
      cpixel(pf, palette_[0]);
      return;
    }
    size_t raw_size = n * cp, plain_rle = runs * (cp + 1);
    if (palette_.size() <= 16) {
      int bits = palette_.size() <= 2 ? 1 : palette_.size() <= 4 ? 2 : 4;
      size_t packed = palette_.size() * cp + size_t(t.height) * ((size_t(t.width) * size_t(bits) + 7) / 8);
      if (packed <= plain_rle && packed <= raw_size) {
        plain_.push_back(uint8_t(palette_.size()));
        for (uint32_t c : palette_) cpixel(pf, c);
        for (int y = 0; y < t.height; ++y) {
          uint8_t byte = 0;
          int used = 0;
          for (int x = 0; x < t.width; ++x) {
            byte = uint8_t(byte | index_[px_[size_t(y * t.width + x)]] << (8 - bits - used));
            used += bits;
            if (used == 8) {
              plain_.push_back(byte);
              byte = 0;
              used = 0;
            }
          }
          if (used) plain_.push_back(byte);
        }
        return;
      }
    }
    if (palette_.size() <= 127) {
      size_t palette_rle = palette_.size() * cp + runs * 2;
      if (palette_rle <= plain_rle && palette_rle <= raw_size) {
        plain_.push_back(uint8_t(128 + palette_.size()));
        for (uint32_t c : palette_) cpixel(pf, c);
        for (size_t i = 0; i < n;) {
          size_t j = i;
          while (j < n && px_[j] == px_[i]) ++j;
          uint8_t idx = index_[px_[i]];
          if (j - i == 1) {
            plain_.push_back(idx);
          } else {
            plain_.push_back(uint8_t(idx | 128));
            run_length(plain_, j - i);
          }
          i = j;
        }
        return;
      }
    }
    if (plain_rle < raw_size) {
      plain_.push_back(128);
      for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && px_[j] == px_[i]) ++j;
        cpixel(pf, px_[i]);
        run_length(plain_, j - i);
        i = j;
      }
      return;
    }
    plain_.push_back(0);
    for (uint32_t c : px_) cpixel(pf, c);
  }

  ZStream z_;
  std::vector<uint8_t> plain_, tmp_;
  std::vector<uint32_t> px_, palette_;
  std::unordered_map<uint32_t, uint8_t> index_;
};

}  // namespace

std::unique_ptr<RectEncoder> make_zrle_encoder() { return std::make_unique<ZrleEncoder>(); }

}  // namespace tessera::vnc
