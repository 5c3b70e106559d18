// Hextile: 16x16 tiles, each solid, two-colour with foreground runs, or raw. Background and
// foreground carry over between tiles and are only re-sent when they change.
#include <algorithm>

#include "transport/vnc/rect_encoder.h"
#include "transport/vnc/rfb_wire.h"

namespace tessera::vnc {

namespace {

constexpr uint8_t kRawTile = 1, kBgSpecified = 2, kFgSpecified = 4, kAnySubrects = 8;

// A colour the client holds from an earlier tile, or none.
struct Known {
  bool set = false;
  uint32_t v = 0;
  bool operator==(uint32_t x) const { return set && v == x; }
  Known& operator=(uint32_t x) {
    set = true;
    v = x;
    return *this;
  }
  void reset() { set = false; }
};

class HextileEncoder : public RectEncoder {
 public:
  int32_t encoding() const override { return rfb::kHextile; }

  size_t encode(const Frame& f, const Rect& r, const PixelFormat& pf, const EncodeOptions&,
                std::vector<uint8_t>& out) override {
    put_rect_header(out, r, rfb::kHextile);
    Known bg, fg;  // as the client knows them
    for (int ty = r.y; ty < r.y + r.height; ty += 16) {
      for (int tx = r.x; tx < r.x + r.width; tx += 16) {
        Rect t{tx, ty, std::min(16, r.x + r.width - tx), std::min(16, r.y + r.height - ty)};
        tile(f, t, pf, out, bg, fg);
      }
    }
    return 1;
  }

 private:
  static void tile(const Frame& f, const Rect& t, const PixelFormat& pf, std::vector<uint8_t>& out,
                   Known& bg, Known& fg) {
    // Up to two colours, with counts; a third means raw.
    uint32_t c[2] = {rgb_at(f, t.x, t.y), 0};
    int n[2] = {0, 0}, colours = 1;
    for (int y = t.y; y < t.y + t.height && colours <= 2; ++y)
      for (int x = t.x; x < t.x + t.width; ++x) {
        uint32_t p = rgb_at(f, x, y);
        if (p == c[0]) {
          ++n[0];
        } else if (colours == 2 && p == c[1]) {
          ++n[1];
        } else if (colours == 1) {
          c[1] = p;
          n[1] = 1;
          colours = 2;
        } else {
          colours = 3;
          break;
        }
      }
    size_t bpp = pf.bytes_per_pixel();
    if (colours == 1) {
      uint32_t v = pf.pack(c[0]);
      if (bg == v) {
        out.push_back(0);
      } else {
        out.push_back(kBgSpecified);
        pf.put(out, v);
        bg = v;
      }
      return;
    }
    if (colours == 2) {
      uint32_t b = pf.pack(n[0] >= n[1] ? c[0] : c[1]), fore_rgb = n[0] >= n[1] ? c[1] : c[0];
      uint32_t fo = pf.pack(fore_rgb);
      // Foreground runs per row, merged with an identical run directly above.
      struct Sub {
        int x, y, w, h;
      };
      std::vector<Sub> subs;
      for (int y = 0; y < t.height; ++y) {
        for (int x = 0; x < t.width;) {
          if (rgb_at(f, t.x + x, t.y + y) != fore_rgb) {
            ++x;
            continue;
          }
          int x0 = x;
          while (x < t.width && rgb_at(f, t.x + x, t.y + y) == fore_rgb) ++x;
          bool merged = false;
          for (auto& s : subs)
            if (s.x == x0 && s.w == x - x0 && s.y + s.h == y) {
              ++s.h;
              merged = true;
              break;
            }
          if (!merged) subs.push_back({x0, y, x - x0, 1});
        }
      }
      size_t size = 1 + (bg == b ? 0 : bpp) + (fg == fo ? 0 : bpp) + 1 + 2 * subs.size();
      if (subs.size() <= 255 && size < 1 + size_t(t.width * t.height) * bpp) {
        uint8_t mask = kAnySubrects | (bg == b ? 0 : kBgSpecified) | (fg == fo ? 0 : kFgSpecified);
        out.push_back(mask);
        if (bg != b) pf.put(out, b);
        if (fg != fo) pf.put(out, fo);
        bg = b;
        fg = fo;
        out.push_back(uint8_t(subs.size()));
        for (auto& s : subs) {
          out.push_back(uint8_t(s.x << 4 | s.y));
          out.push_back(uint8_t((s.w - 1) << 4 | (s.h - 1)));
        }
        return;
      }
    }
    out.push_back(kRawTile);
    pf.convert(f, t, out);
    // After a raw tile the client's background and foreground are unspecified.
    bg.reset();
    fg.reset();
  }
};

}  // namespace

std::unique_ptr<RectEncoder> make_hextile_encoder() { return std::make_unique<HextileEncoder>(); }

}  // namespace tessera::vnc
