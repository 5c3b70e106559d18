#include "core/scroll_detector.h"

#include <algorithm>
#include <bitset>
#include <climits>
#include <iterator>
#include <cstring>
#include <map>
#include <unordered_map>
#include <vector>

namespace tessera {

namespace {

// Four independent lanes over two pixels at a time: a long dependency chain per pixel made row
// hashing the slowest part of a full-screen change.
uint64_t hash_row(const uint32_t* p, int32_t n, bool& flat) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h0 = 0x243F6A8885A308D3ull, h1 = 0x13198A2E03707344ull, h2 = 0xA4093822299F31D0ull,
           h3 = 0x082EFA98EC4E6C89ull;
  const uint32_t first = p[0];
  uint32_t diff = 0;
  int32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t a, b, c, d;
    std::memcpy(&a, p + i, 8);
    std::memcpy(&b, p + i + 2, 8);
    std::memcpy(&c, p + i + 4, 8);
    std::memcpy(&d, p + i + 6, 8);
    h0 = (h0 ^ a) * kMul;
    h1 = (h1 ^ b) * kMul;
    h2 = (h2 ^ c) * kMul;
    h3 = (h3 ^ d) * kMul;
    for (int32_t k = 0; k < 8; ++k) diff |= p[i + k] ^ first;
  }
  for (; i < n; ++i) {
    h0 = (h0 ^ p[i]) * kMul;
    diff |= p[i] ^ first;
  }
  flat = diff == 0;
  uint64_t h = h0 ^ (h1 << 1 | h1 >> 63) ^ (h2 << 2 | h2 >> 62) ^ (h3 << 3 | h3 >> 61) ^ uint64_t(n);
  h ^= h >> 31;
  h *= kMul;
  return h ^ (h >> 29);
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
  // The new rows first: too few distinctive ones (a solid fill, a blank page) cannot vote for a
  // shift, and the old rows need no hashing.
  int32_t distinctive = 0;
  for (int32_t i = 0; i < h; ++i) {
    bool fc = false;
    hc[size_t(i)] = hash_row(cur.row(a.y + i) + a.x, a.width, fc);
    flat_c[size_t(i)] = fc;
    distinctive += !fc;
  }
  if (distinctive < min_rows / 2) return std::nullopt;
  // The old rows by hash, sorted (no per-row allocation, as a hash map would make).
  std::vector<std::pair<uint64_t, int32_t>> where;
  where.reserve(rows);
  for (int32_t i = 0; i < h; ++i) {
    bool fp = false;
    hp[size_t(i)] = hash_row(prev.row(a.y + i) + a.x, a.width, fp);
    if (!fp) where.emplace_back(hp[size_t(i)], i);
  }
  std::sort(where.begin(), where.end());
  // Each distinctive row of the new frame votes for the shifts that would explain it: the four
  // old rows with its hash nearest to it, its own row among them if it is one (that one votes
  // for nothing; repeated lines would otherwise vote for every shift between them).
  std::vector<int32_t> votes(size_t(2 * h + 1));  // index dy + h
  for (int32_t i = 0; i < h; ++i) {
    if (flat_c[size_t(i)]) continue;
    const uint64_t key = hc[size_t(i)];
    auto first = std::lower_bound(where.begin(), where.end(), std::pair<uint64_t, int32_t>{key, INT32_MIN});
    auto at = std::lower_bound(first, where.end(), std::pair<uint64_t, int32_t>{key, i});
    auto lo = at, hi = at;
    for (int n = 0; n < 4; ++n) {
      bool below = lo != first, above = hi != where.end() && hi->first == key;
      if (!below && !above) break;
      // The nearer side next.
      if (below && (!above || i - std::prev(lo)->second <= hi->second - i)) --lo;
      else ++hi;
    }
    for (auto it = lo; it != hi; ++it)
      if (it->second != i) ++votes[size_t(i - it->second + h)];
  }
  int32_t best_dy = 0, best_votes = 0;
  for (int32_t dy = -h; dy <= h; ++dy) {
    int32_t v = votes[size_t(dy + h)];
    if (v > best_votes || (v == best_votes && v > 0 && std::abs(dy) < std::abs(best_dy))) best_dy = dy, best_votes = v;
  }
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

namespace {

constexpr int32_t kSegment = 16;
constexpr uint64_t kBase = 0x100000001B3ull;

uint64_t segment_hash(const uint32_t* p) {
  uint64_t h = 0;
  for (int32_t i = 0; i < kSegment; ++i) h = h * kBase + p[i];
  return h;
}

// A segment worth searching for: at least three changes between neighbouring pixels (text,
// edges), so that it is unlikely to match by chance.
bool busy(const uint32_t* p) {
  int changes = 0;
  for (int32_t i = 1; i < kSegment; ++i) changes += p[i] != p[i - 1];
  return changes >= 3;
}

struct Anchor {
  int32_t x, y;
  uint64_t hash;
};

}  // namespace

std::optional<Move> find_moved_block(const Frame& prev, const Frame& cur, const Rect& area, int32_t min_width,
                                     int32_t min_height) {
  Rect a = area.intersect(prev.bounds()).intersect(cur.bounds());
  if (a.width < std::max(min_width, kSegment) || a.height < min_height) return std::nullopt;

  // Anchors from rows spread over the area, where the new frame differs from the old: per row
  // up to three, away from the ends (a segment across a moving edge matches nothing).
  std::vector<Anchor> anchors;
  std::vector<int32_t> candidates;
  const int32_t step = std::max(1, a.height / 24);
  for (int32_t y = a.y; y < a.bottom() && anchors.size() < 48; y += step) {
    const uint32_t* c = cur.row(y);
    const uint32_t* p = prev.row(y);
    candidates.clear();
    for (int32_t x = a.x; x + kSegment <= a.right(); x += kSegment / 2)
      if (std::memcmp(c + x, p + x, kSegment * 4) != 0 && busy(c + x)) candidates.push_back(x);
    if (candidates.empty()) continue;
    size_t n = candidates.size();
    for (size_t i : {n / 2, n / 4, (3 * n) / 4}) {
      int32_t x = candidates[i];
      if (std::none_of(anchors.begin(), anchors.end(), [&](const Anchor& o) { return o.x == x && o.y == y; }))
        anchors.push_back({x, y, segment_hash(c + x)});
    }
  }
  if (anchors.size() < 3) return std::nullopt;
  std::unordered_multimap<uint64_t, size_t> by_hash;
  std::bitset<4096> filter;
  for (size_t i = 0; i < anchors.size(); ++i) {
    by_hash.emplace(anchors[i].hash, i);
    filter.set(anchors[i].hash & 4095);
  }
  uint64_t top_power = 1;
  for (int32_t i = 1; i < kSegment; ++i) top_power *= kBase;

  // Roll a hash over every segment position of the old frame; matches vote for an offset. A
  // 64-bit hash match is taken as a match: a collision only adds a stray vote, and the block
  // grown below is compared pixel by pixel.
  std::unordered_map<uint64_t, int> votes;
  auto key = [](int32_t dx, int32_t dy) { return uint64_t(uint32_t(dx)) << 32 | uint32_t(dy); };
  for (int32_t y = a.y; y < a.bottom(); ++y) {
    const uint32_t* p = prev.row(y);
    uint64_t h = segment_hash(p + a.x);
    for (int32_t x = a.x;; ++x) {
      if (filter.test(h & 4095)) {
        auto [b, e] = by_hash.equal_range(h);
        for (auto it = b; it != e; ++it) {
          const Anchor& an = anchors[it->second];
          if (an.x != x || an.y != y) ++votes[key(an.x - x, an.y - y)];
        }
      }
      if (x + kSegment >= a.right()) break;
      h = (h - p[x] * top_power) * kBase + p[x + kSegment];
    }
  }
  uint64_t best = 0;
  int best_votes = 0;
  for (auto& [off, v] : votes)
    if (v > best_votes || (v == best_votes && off < best)) best = off, best_votes = v;
  if (best_votes < 3) return std::nullopt;
  const int32_t dx = int32_t(uint32_t(best >> 32)), dy = int32_t(uint32_t(best));

  // Grow the largest exactly matching rectangle around the anchors that agree.
  const Rect bounds = cur.bounds();
  auto matches = [&](int32_t x, int32_t y) {
    int32_t sx = x - dx, sy = y - dy;
    return bounds.contains(x, y) && bounds.contains(sx, sy) && cur.pixel(x, y) == prev.pixel(sx, sy);
  };
  // Row y of `cur` over [x0, x1) equals `prev` at the offset, inside `a`.
  auto span_matches = [&](int32_t y, int32_t x0, int32_t x1) {
    int32_t sy = y - dy;
    if (y < a.y || y >= a.bottom() || sy < 0 || sy >= prev.height() || x0 - dx < 0 || x1 - dx > prev.width())
      return false;
    return std::memcmp(cur.row(y) + x0, prev.row(sy) + (x0 - dx), size_t(x1 - x0) * 4) == 0;
  };
  std::optional<Move> found;
  for (const Anchor& an : anchors) {
    // Anchors inside the block already grown would only grow it again (rows of memcmp each).
    if (found && found->dst.contains(an.x, an.y)) continue;
    if (!matches(an.x, an.y)) continue;
    int32_t l = an.x, r = an.x;
    while (l > a.x && matches(l - 1, an.y)) --l;
    while (r < a.right() && matches(r, an.y)) ++r;
    int32_t t = an.y, b = an.y + 1;
    while (span_matches(t - 1, l, r)) --t;
    while (span_matches(b, l, r)) ++b;
    auto take = [&](const Rect& dst) {
      if (found && dst.area() <= found->dst.area()) return;
      Move m;
      m.dst = dst;
      m.src_x = dst.x - dx;
      m.src_y = dst.y - dy;
      found = m;
    };
    take({l, t, r - l, b - t});
    // Rows grown at the anchor row's full width stop where that row matched past the window's
    // edge (flat wallpaper beside it): grow down the anchor's own segment instead, and narrow
    // to what every row of it matches.
    const int32_t cl = std::max(an.x, a.x), cr = std::min(an.x + kSegment, a.right());
    if (!span_matches(an.y, cl, cr)) continue;
    int32_t ct = an.y, cb = an.y + 1;
    while (span_matches(ct - 1, cl, cr)) --ct;
    while (span_matches(cb, cl, cr)) ++cb;
    if (int64_t(cb - ct) * (a.width) <= (found ? found->dst.area() : 0)) continue;  // cannot beat it
    // Each row's matching span around the segment; then the best rectangle over the anchor row
    // and some rows above and below it, tried only where the common span narrows (a row past
    // the window's edge that matched by chance must not narrow the whole block).
    struct Step {
      int32_t rows, l, r;  // the nearest `rows` rows on this side all match over [l, r)
    };
    auto steps = [&](int32_t from, int32_t to, int32_t dir) {
      std::vector<Step> out;
      int32_t sl = a.x, sr = a.right(), rows = 0;
      for (int32_t y = from; y != to; y += dir) {
        int32_t x = cl;
        while (x > sl && matches(x - 1, y)) --x;
        int32_t e = cr;
        while (e < sr && matches(e, y)) ++e;
        if (rows > 0 && (x != sl || e != sr)) out.push_back({rows, sl, sr});
        sl = x;
        sr = e;
        ++rows;
      }
      if (rows > 0) out.push_back({rows, sl, sr});
      return out;
    };
    const std::vector<Step> up = steps(an.y, ct - 1, -1), down = steps(an.y + 1, cb, 1);
    for (const Step& u : up) {
      take({u.l, an.y - u.rows + 1, u.r - u.l, u.rows});
      for (const Step& d : down) {
        int32_t bl = std::max(u.l, d.l), br = std::min(u.r, d.r);
        if (br > bl) take({bl, an.y - u.rows + 1, br - bl, u.rows + d.rows});
      }
    }
  }
  if (!found || found->dst.width < min_width || found->dst.height < min_height) return std::nullopt;
  return found;
}

Move extend_move(const Frame& prev, const Frame& cur, const Move& m) {
  const int32_t dx = m.dst.x - m.src_x, dy = m.dst.y - m.src_y;
  // Where both the destination and its source lie inside the frame.
  const Rect limit = cur.bounds().intersect({dx, dy, prev.width(), prev.height()});
  Rect d = m.dst.intersect(limit);
  if (d.empty()) return m;
  auto row_ok = [&](int32_t y, int32_t x0, int32_t x1) {
    return std::memcmp(cur.row(y) + x0, prev.row(y - dy) + (x0 - dx), size_t(x1 - x0) * 4) == 0;
  };
  // How far the columns left (right) of d match at the offset in every row of d: row by row,
  // each row scanned only as far as the rows before it allowed (a column is one mismatch away
  // from failing). Rows, not columns: a window over a flat desktop grows across all of it.
  auto grow_left = [&] {
    int32_t left = limit.x;
    for (int32_t y = d.y; y < d.bottom() && left < d.x; ++y) {
      const uint32_t* c = cur.row(y);
      const uint32_t* p = prev.row(y - dy);
      for (int32_t x = d.x - 1; x >= left; --x)
        if (c[x] != p[x - dx]) {
          left = x + 1;
          break;
        }
    }
    return left;
  };
  auto grow_right = [&] {
    int32_t right = limit.right();
    for (int32_t y = d.y; y < d.bottom() && right > d.right(); ++y) {
      const uint32_t* c = cur.row(y);
      const uint32_t* p = prev.row(y - dy);
      for (int32_t x = d.right(); x < right; ++x)
        if (c[x] != p[x - dx]) {
          right = x;
          break;
        }
    }
    return right;
  };
  for (bool grew = true; grew;) {
    grew = false;
    if (int32_t l = grow_left(); l < d.x) d.width += d.x - l, d.x = l, grew = true;
    if (int32_t r = grow_right(); r > d.right()) d.width = r - d.x, grew = true;
    while (d.y > limit.y && row_ok(d.y - 1, d.x, d.right())) --d.y, ++d.height, grew = true;
    while (d.bottom() < limit.bottom() && row_ok(d.bottom(), d.x, d.right())) ++d.height, grew = true;
  }
  Rect changed = changed_bounds(prev, cur, d);
  if (changed.empty()) return m;
  return Move{changed, changed.x - dx, changed.y - dy};
}

}  // namespace tessera
