#include "core/damage_tracker.h"

#include <cstring>
#include <stdexcept>
#include <vector>

#include "core/log.h"
#include "core/scroll_detector.h"
#include "core/tile_content.h"

namespace tessera {

namespace {

constexpr int32_t kMinColumnGap = 8;
// A motion group must fill this share (%) of its bounding box to be video.
constexpr int64_t kMinMotionFill = 40;
// A fast-entry group must fill this share (%) of its bounding box...
constexpr int64_t kFastMotionFill = 60;
// ...and this share (%) of its tiles must still differ after moves.
constexpr size_t kFastMotionLeft = 25;
// Tiles looked at to tell whether a starting area is a picture.
constexpr size_t kPictorialSample = 32;
// A move must account for this share (%) of the changed pixels around it.
constexpr int64_t kMinMoveShare = 80;
// What one more rectangle costs a client and the wire, in pixels sent: merging boxes into their
// bounding box pays while it adds fewer unchanged pixels than this per box saved.
constexpr int32_t kBoxSlackPixels = 256;

struct TileGroup {
  Rect bounds;                // in pixels
  std::vector<size_t> tiles;  // indices
};

// The 8-connected groups of marked tiles.
std::vector<TileGroup> tile_groups(const TileGrid& g, const std::vector<uint8_t>& marked, std::vector<uint8_t>& seen) {
  std::vector<TileGroup> out;
  seen.assign(g.count(), 0);
  std::vector<std::pair<int32_t, int32_t>> stack;
  for (int32_t r = 0; r < g.rows(); ++r)
    for (int32_t c = 0; c < g.cols(); ++c) {
      if (!marked[g.index(c, r)] || seen[g.index(c, r)]) continue;
      int32_t c0 = c, c1 = c, r0 = r, r1 = r;
      TileGroup group;
      stack.push_back({c, r});
      seen[g.index(c, r)] = 1;
      while (!stack.empty()) {
        auto [x, y] = stack.back();
        stack.pop_back();
        group.tiles.push_back(g.index(x, y));
        c0 = std::min(c0, x), c1 = std::max(c1, x), r0 = std::min(r0, y), r1 = std::max(r1, y);
        for (int32_t dy = -1; dy <= 1; ++dy)
          for (int32_t dx = -1; dx <= 1; ++dx) {
            int32_t nx = x + dx, ny = y + dy;
            if (nx < 0 || ny < 0 || nx >= g.cols() || ny >= g.rows()) continue;
            size_t i = g.index(nx, ny);
            if (marked[i] && !seen[i]) {
              seen[i] = 1;
              stack.push_back({nx, ny});
            }
          }
      }
      Rect a = g.rect(c0, r0), b = g.rect(c1, r1);
      group.bounds = {a.x, a.y, b.right() - a.x, b.bottom() - a.y};
      out.push_back(std::move(group));
    }
  return out;
}

// Splits `area` into the column spans that hold differences, cut at runs of at least
// `min_gap` identical columns: two windows side by side scroll (or not) independently.
std::vector<Rect> changed_column_spans(const Frame& prev, const Frame& cur, const Rect& area, int32_t min_gap) {
  std::vector<uint8_t> col(size_t(area.width), 0);
  int32_t marked = 0;
  for (int32_t y = area.y; y < area.bottom() && marked < area.width; ++y) {
    const uint32_t* p = prev.row(y) + area.x;
    const uint32_t* c = cur.row(y) + area.x;
    if (std::memcmp(p, c, size_t(area.width) * 4) == 0) continue;
    for (int32_t x = 0; x < area.width; ++x)
      if (!col[size_t(x)] && p[x] != c[x]) {
        col[size_t(x)] = 1;
        ++marked;  // every column changed: no gap can be found below
      }
  }
  std::vector<Rect> spans;
  int32_t start = -1, gap = 0;
  for (int32_t x = 0; x <= area.width; ++x) {
    bool changed = x < area.width && col[size_t(x)];
    if (changed) {
      if (start < 0) start = x;
      gap = 0;
    } else if (start >= 0 && (++gap >= min_gap || x == area.width)) {
      int32_t end = x - gap + 1;
      spans.push_back({area.x + start, area.y, end - start, area.height});
      start = -1;
      gap = 0;
    }
  }
  return spans;
}

// Applies a move inside one frame, as a viewer does (source and destination may overlap).
void apply_move(Frame& f, const Move& m, std::vector<uint32_t>& scratch) {
  size_t w = size_t(m.dst.width);
  scratch.resize(w * size_t(m.dst.height));
  for (int32_t y = 0; y < m.dst.height; ++y) std::memcpy(&scratch[size_t(y) * w], f.row(m.src_y + y) + m.src_x, w * 4);
  for (int32_t y = 0; y < m.dst.height; ++y) std::memcpy(f.row(m.dst.y + y) + m.dst.x, &scratch[size_t(y) * w], w * 4);
}

}  // namespace

DamageTracker::DamageTracker(DamageTrackerConfig cfg)
    : cfg_(cfg), classifier_(cfg.classifier), accel_(std::move(cfg.accelerator)) {
  if (cfg_.tile_size < 4 || cfg_.tile_size > 256) throw std::invalid_argument("tile size must be 4..256");
  if (cfg_.full_scan_interval < 1) throw std::invalid_argument("full scan interval must be >= 1");
  cfg_.accelerator.reset();  // owned by accel_ alone: dropping it must free the device
}

Region DamageTracker::motion_area() const { return grid_.region_of(motion_mask_); }

void DamageTracker::drop_accelerator(const char* what, const std::exception& e) {
  spdlog::warn("damage tracker: {} failed on {} ({}); the CPU takes over, motion history restarts", what,
               accel_->name(), e.what());
  accel_.reset();
  accel_holds_last_ = false;
  // The classes lived on the accelerator: start over (tiles in motion get their lossless refresh).
  classifier_.reset(grid_.count());
}

void DamageTracker::accel_reset(const Frame& f, bool upload) {
  accel_holds_last_ = false;
  if (!accel_) return;
  try {
    accel_->reset(grid_, cfg_.classifier);
    accel_motion_.assign(grid_.count(), 0);
    if (upload) {
      accel_->set_reference(f);
      accel_holds_last_ = true;
    }
  } catch (const std::exception& e) {
    drop_accelerator("reset", e);
  }
}

bool DamageTracker::diff_accelerated(const Frame& f) {
  try {
    accel_->diff(f, changed_);
    ++accelerated_frames_;
    return true;
  } catch (const std::exception& e) {
    drop_accelerator("tile diff", e);
    changed_.assign(grid_.count(), 0);  // the CPU diffs this frame from scratch
    return false;
  }
}

void DamageTracker::classify(Clock::time_point now) {
  if (accel_) {
    try {
      accel_->classify(activity_, now, accel_motion_);
      return;
    } catch (const std::exception& e) {
      drop_accelerator("classifier", e);
    }
  }
  classifier_.update(activity_, now);
}

void DamageTracker::update_motion_mask(const Frame& cur, Clock::time_point now) {
  prev_motion_mask_.swap(motion_mask_);
  motion_mask_.assign(grid_.count(), 0);
  const std::vector<uint8_t>& classified = accel_ ? accel_motion_ : classifier_.motion();
  // Fast entry: a large, dense area that changed now and in one of the two frames before is
  // video starting (text and UI change in small places), so it is motion at its second change,
  // not after `enter_changes`; unless moves explain it (a dragged window, a scrolled page: what
  // is left after them is a thin strip). It keeps the classifier's hold.
  std::vector<uint8_t>& fast = fast_scratch_;
  fast.assign(grid_.count(), 0);
  for (size_t i = 0; i < fast.size(); ++i) fast[i] = raw_changed_[i] && (recent_[i] & 0x3);
  auto qualifies = [&](const TileGroup& g) {
    const int64_t box_tiles = grid_.tiles_touching(g.bounds).area();
    size_t left = 0;
    for (size_t i : g.tiles) left += activity_[i];
    return cfg_.fast_motion_tiles > 0 && g.tiles.size() >= size_t(cfg_.fast_motion_tiles) &&
           int64_t(g.tiles.size()) * 100 >= box_tiles * kFastMotionFill && left * 100 >= g.tiles.size() * kFastMotionLeft;
  };
  for (const TileGroup& g : tile_groups(grid_, fast, seen_))
    if (qualifies(g))
      for (size_t i : g.tiles) fast_until_[i] = now + classifier_hold();
  // Speculative start: such an area changing for the first time is motion at once when it looks
  // like a picture (a video window opening, a full-screen video starting): its first frame goes
  // as video, not as a burst of lossless pictures. If it stays still, the hold runs out and it is
  // repainted losslessly, as after any motion. Text and UI (flat backgrounds) wait for evidence.
  // Half the tiles suffice: a player's title bar and frame change with its picture.
  if (cfg_.pictorial_start) {
    for (size_t i = 0; i < fast.size(); ++i) fast[i] = raw_changed_[i] && fast_until_[i] <= now;
    for (const TileGroup& g : tile_groups(grid_, fast, seen_)) {
      if (!qualifies(g)) continue;
      std::vector<size_t> sample;
      for (size_t i : g.tiles)
        if (activity_[i]) sample.push_back(i);
      const size_t step = std::max<size_t>(1, sample.size() / kPictorialSample);
      size_t looked = 0, pictorial = 0;
      for (size_t k = 0; k < sample.size(); k += step, ++looked) {
        size_t i = sample[k];
        pictorial += looks_pictorial(cur, grid_.rect(i));
      }
      if (looked && pictorial * 2 >= looked)
        for (size_t i : g.tiles) fast_until_[i] = now + classifier_hold();
    }
  }
  std::vector<uint8_t>& motion = motion_scratch_;
  motion.assign(grid_.count(), 0);
  for (size_t i = 0; i < motion.size(); ++i) {
    motion[i] = classified[i] || fast_until_[i] > now;
    recent_[i] = uint8_t(recent_[i] << 1 | raw_changed_[i]);
  }
  for (const TileGroup& g : tile_groups(grid_, motion, seen_)) {
    // Video fills its box; the ring of edges and uncovered strips around a dragged window does
    // not, and stays lossless (a stream over its box would blur the window it surrounds).
    const int64_t box_tiles = grid_.tiles_touching(g.bounds).area();
    if (g.tiles.size() >= size_t(cfg_.min_motion_tiles) && int64_t(g.tiles.size()) * 100 >= box_tiles * kMinMotionFill)
      for (size_t i : g.tiles) motion_mask_[i] = 1;
  }
}

DamageTracker::Clock::duration DamageTracker::classifier_hold() const {
  return std::max(Clock::duration::zero(),
                  Clock::duration(cfg_.classifier.lossless_after) - Clock::duration(cfg_.classifier.frame_interval));
}

void DamageTracker::find_moves(const Frame& cur, FrameChange& out) {
  const Frame& prev = ref_;
  const auto& motion = motion_mask_;
  std::vector<Move> moves;
  // A move is taken where it accounts for most of what changed around it (video aside): of the
  // pixels that changed, most are the old ones at the move's offset (a dragged window or a
  // scroll, with a strip of new content). Inside playing video no move is taken: the stream
  // sends pans for less than moves plus what they leave.
  auto explains = [&](const Move& m, const Region& area_changed) {
    Rect t = grid_.tiles_touching(m.dst);
    int64_t moving = 0;
    for (int32_t row = t.y; row < t.bottom(); ++row)
      for (int32_t col = t.x; col < t.right(); ++col) moving += motion[grid_.index(col, row)];
    if (moving * 2 > t.area()) return false;  // video that pans is the stream's to send
    Region around = area_changed;
    around.subtract(grid_.region_of(motion));
    const int32_t dx = m.dst.x - m.src_x, dy = m.dst.y - m.src_y;
    int64_t differ = 0, matched = 0;
    for (const Rect& r : around.rects())
      for (int32_t y = r.y; y < r.bottom(); ++y) {
        const uint32_t* c = cur.row(y);
        const uint32_t* p = prev.row(y);
        // Most rows of a grown move's area did not change at all.
        if (std::memcmp(c + r.x, p + r.x, size_t(r.width) * 4) == 0) continue;
        // Branch-free counts over the columns whose source lies inside the frame, so that the
        // compiler vectorises them: on a whole-screen scroll every row lands here.
        int32_t lo = r.x, hi = r.right();
        const bool row_in = y - dy >= 0 && y - dy < prev.height();
        if (row_in) lo = std::max(lo, dx), hi = std::min(hi, prev.width() + dx);
        if (!row_in || lo > hi) lo = hi = r.x;
        int64_t d = 0, mt = 0;
        for (int32_t x = r.x; x < lo; ++x) d += c[x] != p[x];
        for (int32_t x = hi; x < r.right(); ++x) d += c[x] != p[x];
        if (lo < hi) {
          const uint32_t* q = prev.row(y - dy);
          for (int32_t x = lo; x < hi; ++x) {
            const uint32_t cx = c[x];
            const int32_t changed = cx != p[x];
            d += changed;
            mt += changed & int32_t(cx == q[x - dx]);
          }
        }
        differ += d;
        matched += mt;
      }
    return matched * 100 >= differ * kMinMoveShare;
  };
  // Clients apply moves one after another: keep only moves that cannot disturb each other.
  auto add = [&](const Move& m) {
    for (const Move& o : moves)
      if (!o.dst.intersect(m.dst).empty() || !o.dst.intersect(m.src()).empty() || !o.src().intersect(m.dst).empty())
        return false;
    moves.push_back(m);
    return true;
  };
  // Scrolls column span by column span, else one moved block (a dragged window); true if a
  // move was taken.
  auto search = [&](const Rect& area) {
    if (area.height < cfg_.min_scroll_rows) return false;
    bool scrolled = false;
    Region changed;  // the changed pixels, bounded span by span
    for (const Rect& span : changed_column_spans(prev, cur, area, kMinColumnGap)) {
      Rect cb = changed_bounds(prev, cur, span);
      changed.add(cb);
      if (auto m = find_vertical_scroll(prev, cur, cb, cfg_.min_scroll_rows); m && explains(*m, Region(cb)))
        scrolled |= add(*m);
    }
    if (scrolled) return true;
    if (area.width < 2 * cfg_.min_scroll_rows) return false;
    auto m = find_moved_block(prev, cur, changed.bounds(), 2 * cfg_.min_scroll_rows, cfg_.min_scroll_rows);
    if (!m || !explains(*m, changed)) return false;
    // The block may reach past this group: a window's far edge beyond its flat parts.
    Move wide = extend_move(prev, cur, *m);
    if (!(wide == *m) && explains(wide, Region(changed).add(wide.dst)) && add(wide)) return true;
    return add(*m);
  };
  for (const TileGroup& group : tile_groups(grid_, changed_, seen_)) {
    size_t in_motion = 0;
    Rect still;  // the tiles that are not video
    for (size_t i : group.tiles) {
      in_motion += motion[i];
      if (!motion[i]) still = still.united(grid_.rect(i));
    }
    // Mostly video: only what is not video is searched (a terminal scrolling beside it).
    search(in_motion * 2 <= group.tiles.size() ? group.bounds : still);
  }
  if (moves.empty()) return;
  // The reference becomes what the viewer has after the moves; only what still differs is damage.
  Region redo;
  for (const Move& m : moves) redo.add(m.dst).add(m.src());
  for (const Rect& r : redo.rects()) {
    Rect t = grid_.tiles_touching(r);
    for (int32_t row = t.y; row < t.bottom(); ++row)
      for (int32_t col = t.x; col < t.right(); ++col) changed_[grid_.index(col, row)] = 0;
  }
  std::vector<uint32_t> scratch;
  for (const Move& m : moves) apply_move(ref_, m, scratch);
  // Tiles under the moves are compared again; tiles elsewhere keep their result.
  for (const Rect& r : redo.rects()) diff_tiles(ref_, cur, grid_, r, changed_);
  out.moves = std::move(moves);
}

Region DamageTracker::exact_damage(const Frame& cur, const std::vector<uint8_t>& paint,
                                   const std::vector<uint8_t>& moving, const std::vector<uint8_t>& refresh) {
  // Motion and repaints after motion go as whole tiles (video frames, lossless repaints).
  std::vector<uint8_t> whole(grid_.count()), exact(grid_.count());
  for (size_t i = 0; i < paint.size(); ++i) {
    whole[i] = paint[i] & (moving[i] | refresh[i]);
    exact[i] = paint[i] & !whole[i];
  }
  Region out = grid_.region_of(whole);
  // A static change is only its changed pixels: each tile shrinks to their box, and a group of
  // neighbouring tiles becomes one box where that adds little (fewer, larger draws).
  for (const TileGroup& g : tile_groups(grid_, exact, seen_)) {
    // A group that fills its bounding tiles (a whole-screen change) is one box: no need to
    // look tile by tile.
    Rect span = grid_.tiles_touching(g.bounds);
    if (int64_t(g.tiles.size()) == span.area()) {
      Rect b = changed_bounds(ref_, cur, g.bounds);
      out.add(b.empty() ? g.bounds : b);
      continue;
    }
    Region boxes;
    for (size_t i : g.tiles) {
      Rect tile = grid_.rect(i);
      Rect b = changed_bounds(ref_, cur, tile);
      boxes.add(b.empty() ? tile : b);  // a tile marked changed always holds a difference
    }
    Rect bounds = boxes.bounds();
    int64_t area = boxes.area();
    bool one_box = bounds.area() <= area + area / 4 + int64_t(kBoxSlackPixels) * int64_t(boxes.rect_count() - 1);
    // Never across a tile where nothing changed.
    Rect t = grid_.tiles_touching(bounds);
    for (int32_t row = t.y; one_box && row < t.bottom(); ++row)
      for (int32_t col = t.x; one_box && col < t.right(); ++col) one_box = exact[grid_.index(col, row)] != 0;
    if (one_box)
      out.add(bounds);
    else
      out.add(boxes);
  }
  return out;
}

FrameChange DamageTracker::update(const FramePtr& frame, const Region* hints, Clock::time_point now) {
  FrameChange out;
  ++frames_;
  times_ = {};
  auto t0 = Clock::now();
  if (!have_ref_ || ref_.size() != frame->size()) {
    grid_ = TileGrid(frame->size(), cfg_.tile_size);
    classifier_.reset(grid_.count());
    recent_.assign(grid_.count(), 0);
    fast_until_.assign(grid_.count(), Clock::time_point{});
    motion_mask_.assign(grid_.count(), 0);
    prev_motion_mask_.assign(grid_.count(), 0);
    ref_ = *frame;
    have_ref_ = true;
    last_ = frame;
    in_sync_ = true;
    // Without hints every frame is a full scan: the accelerator will diff the next one.
    accel_reset(*frame, !hints || accel_);
    out.damage = Region(frame->bounds());
    return out;
  }
  changed_.assign(grid_.count(), 0);
  raw_changed_.assign(grid_.count(), 0);
  // The same frame object again, and the reference holds it exactly: nothing to compare.
  if (!(frame == last_ && in_sync_)) {
    // With an accelerator every scan is full: the GPU compares whole frames for less than the
    // CPU spends on hinted parts, and a full scan keeps the reference on the device valid.
    bool full = !hints || accel_ || frames_ % uint64_t(cfg_.full_scan_interval) == 0;
    // The accelerator compares with the previous frame it was given: valid when that frame is
    // last_ and the reference equals last_ (in sync).
    if (full && in_sync_ && accel_holds_last_ && diff_accelerated(*frame)) {
      // done: the accelerator now holds this frame
    } else if (full) {
      diff_tiles(ref_, *frame, grid_, frame->bounds(), changed_);
      accel_holds_last_ = false;
      // Give the accelerator this frame so it diffs the next one.
      if (accel_) {
        try {
          accel_->set_reference(*frame);
          accel_holds_last_ = true;
        } catch (const std::exception& e) {
          drop_accelerator("upload", e);
        }
      }
    } else {
      for (const Rect& r : hints->rects()) diff_tiles(ref_, *frame, grid_, r, changed_);
      accel_holds_last_ = false;
    }
    in_sync_ = full;
    auto t1 = Clock::now();
    times_.diff = t1 - t0;
    raw_changed_ = changed_;
    if (cfg_.detect_scroll) find_moves(*frame, out);
    t0 = Clock::now();
    times_.scroll = t0 - t1;
  }
  t0 = Clock::now();
  // What the classifier counts: changes, less those a move explains (a dragged window's edges
  // and the strip it uncovers change every frame without being video). What still changes
  // inside a move (a video in a panning scene) counts.
  activity_ = changed_;
  for (const Move& m : out.moves) {
    Rect t = grid_.tiles_touching(m.dst);
    for (int32_t row = t.y; row < t.bottom(); ++row)
      for (int32_t col = t.x; col < t.right(); ++col)
        if (!m.dst.contains(grid_.rect(col, row))) activity_[grid_.index(col, row)] = 0;
    Region exposed(m.src());
    exposed.subtract(Region(m.dst));
    for (const Rect& r : exposed.rects()) {
      Rect e = grid_.tiles_touching(r);
      for (int32_t row = e.y; row < e.bottom(); ++row)
        for (int32_t col = e.x; col < e.right(); ++col) activity_[grid_.index(col, row)] = 0;
    }
  }
  classify(now);
  update_motion_mask(*frame, now);
  // Build to lossless: what stops being motion is repainted, changed or not.
  std::vector<uint8_t> paint(grid_.count()), moving(grid_.count()), refresh(grid_.count());
  for (size_t i = 0; i < paint.size(); ++i) {
    refresh[i] = prev_motion_mask_[i] & !motion_mask_[i];
    paint[i] = changed_[i] | refresh[i];
    moving[i] = changed_[i] & motion_mask_[i];
  }
  out.damage = exact_damage(*frame, paint, moving, refresh);
  out.motion = grid_.region_of(moving);
  out.refresh = grid_.region_of(refresh);
  out.motion_area = grid_.region_of(motion_mask_);
  for (const Rect& r : out.damage.rects()) ref_.copy_from(*frame, r);
  last_ = frame;
  times_.classify = Clock::now() - t0;
  return out;
}

}  // namespace tessera
