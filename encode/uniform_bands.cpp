#include "encode/uniform_bands.h"

namespace tessera {

namespace {
// The colour every pixel of row y within [x, x + w) has, if any (the X byte is not compared:
// clients show it nowhere).
std::optional<uint32_t> row_colour(const Frame& f, int32_t y, int32_t x, int32_t w) {
  const uint32_t* p = f.row(y) + x;
  const uint32_t c = p[0] & 0xFFFFFFu;
  for (int32_t i = 1; i < w; ++i)
    if ((p[i] & 0xFFFFFFu) != c) return std::nullopt;
  return c;
}
}  // namespace

std::vector<Band> uniform_bands(const Frame& f, const Rect& r, int32_t min_rows) {
  std::vector<Band> out;
  if (r.empty()) return out;
  auto emit = [&](int32_t y0, int32_t y1, std::optional<uint32_t> solid) {
    if (y1 <= y0) return;
    Rect b{r.x, y0, r.width, y1 - y0};
    // An image band next to another one: merge (fewer, larger images).
    if (!solid && !out.empty() && !out.back().solid) {
      out.back().rect.height += b.height;
      return;
    }
    out.push_back({b, solid});
  };
  int32_t run_start = r.y;
  std::optional<uint32_t> run_colour = row_colour(f, r.y, r.x, r.width);
  int32_t image_start = r.y;  // rows not yet emitted begin here
  auto close_run = [&](int32_t end) {
    bool whole = run_start == r.y && end == r.bottom();
    if (run_colour && (end - run_start >= min_rows || whole)) {
      emit(image_start, run_start, std::nullopt);
      emit(run_start, end, run_colour);
      image_start = end;
    }
  };
  for (int32_t y = r.y + 1; y < r.bottom(); ++y) {
    auto c = row_colour(f, y, r.x, r.width);
    if (c && run_colour && *c == *run_colour) continue;
    close_run(y);
    run_start = y;
    run_colour = c;
  }
  close_run(r.bottom());
  emit(image_start, r.bottom(), std::nullopt);
  return out;
}

}  // namespace tessera
