#include "core/scroll_detector.h"

#include <cstring>
#include <unordered_map>
#include <vector>

namespace tessera {

namespace {

uint64_t hash_row(const uint32_t* p, int32_t n, bool& flat) {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  flat = true;
  for (int32_t i = 0; i < n; ++i) {
    h = (h ^ p[i]) * 0x100000001B3ull;
    h ^= h >> 29;
    flat = flat && p[i] == p[0];
  }
  return h;
}

bool rows_equal(const Frame& a, int32_t ya, const Frame& b, int32_t yb, int32_t x, int32_t w) {
  return std::memcmp(a.row(ya) + x, b.row(yb) + x, size_t(w) * 4) == 0;
}

}  // namespace

Rect changed_bounds(const Frame& prev, const Frame& cur, const Rect& area) {
  Rect a = area.intersect(prev.bounds()).intersect(cur.bounds());
  int32_t top = -1, bottom = -1, left = a.right(), right = a.x;
  for (int32_t y = a.y; y < a.bottom(); ++y) {
    const uint32_t* p = prev.row(y);
    const uint32_t* c = cur.row(y);
    if (std::memcmp(p + a.x, c + a.x, size_t(a.width) * 4) == 0) continue;
    if (top < 0) top = y;
    bottom = y + 1;
    int32_t l = a.x;
    while (p[l] == c[l]) ++l;
    int32_t r = a.right() - 1;
    while (p[r] == c[r]) --r;
    left = std::min(left, l);
    right = std::max(right, r + 1);
  }
  if (top < 0) return {};
  return {left, top, right - left, bottom - top};
}

std::optional<Move> find_vertical_scroll(const Frame& prev, const Frame& cur, const Rect& area, int32_t min_rows) {
  Rect a = area.intersect(prev.bounds()).intersect(cur.bounds());
  if (a.height < min_rows * 2 || a.width < 1) return std::nullopt;
  const int32_t h = a.height;
  const size_t rows = static_cast<size_t>(h);
  std::vector<uint64_t> hp(rows), hc(rows);
  std::vector<uint8_t> flat_c(rows);
  std::unordered_multimap<uint64_t, int32_t> where;
  where.reserve(rows);
  for (int32_t i = 0; i < h; ++i) {
    bool fp = false, fc = false;
    hp[size_t(i)] = hash_row(prev.row(a.y + i) + a.x, a.width, fp);
    hc[size_t(i)] = hash_row(cur.row(a.y + i) + a.x, a.width, fc);
    flat_c[size_t(i)] = fc;
    if (!fp) where.emplace(hp[size_t(i)], i);
  }
  // Each distinctive row of the new frame votes for the shifts that would explain it.
  std::unordered_map<int32_t, int32_t> votes;
  for (int32_t i = 0; i < h; ++i) {
    if (flat_c[size_t(i)]) continue;
    auto [b, e] = where.equal_range(hc[size_t(i)]);
    int n = 0;
    for (auto it = b; it != e && n < 4; ++it, ++n)
      if (it->second != i) ++votes[i - it->second];
  }
  int32_t best_dy = 0, best_votes = 0;
  for (auto [dy, v] : votes)
    if (v > best_votes || (v == best_votes && std::abs(dy) < std::abs(best_dy))) best_dy = dy, best_votes = v;
  if (best_votes < min_rows / 2) return std::nullopt;

  // The longest run of rows that match exactly under that shift.
  int32_t run_start = 0, run_len = 0, best_start = 0, best_len = 0;
  for (int32_t i = 0; i < h; ++i) {
    int32_t j = i - best_dy;  // source row in prev
    bool match = j >= 0 && j < h && hc[size_t(i)] == hp[size_t(j)] &&
                 rows_equal(cur, a.y + i, prev, a.y + j, a.x, a.width);
    if (match) {
      if (run_len == 0) run_start = i;
      ++run_len;
      if (run_len > best_len) best_len = run_len, best_start = run_start;
    } else {
      run_len = 0;
    }
  }
  if (best_len < min_rows) return std::nullopt;
  Move m;
  m.dst = {a.x, a.y + best_start, a.width, best_len};
  m.src_x = a.x;
  m.src_y = a.y + best_start - best_dy;
  return m;
}

}  // namespace tessera
