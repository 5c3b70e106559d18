// The damage tracker against the demo desktop's ground truth: nothing changed is ever missed,
// what is reported really changed, scrolls become moves, video becomes motion and goes back to
// static (with a lossless repaint) when it stops.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "capture/demo_source.h"
#include "core/damage_tracker.h"
#include "core/frame_hub.h"
#include "core/scroll_detector.h"
#include "core/tile_content.h"
#include "core/tile_diff.h"

using namespace tessera;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// What a viewer does with a change: moves first (from its own pixels), then paint.
void apply_moves(Frame& view, const std::vector<Move>& moves) {
  for (const Move& m : moves) {
    Frame before = view;
    for (int32_t y = 0; y < m.dst.height; ++y)
      std::memcpy(view.row(m.dst.y + y) + m.dst.x, before.row(m.src_y + y) + m.src_x, size_t(m.dst.width) * 4);
  }
}
void paint(Frame& view, const Frame& src, const Region& damage) {
  for (const Rect& r : damage.rects()) view.copy_from(src, r);
}
// Applies a change to the viewer's picture; true if it then shows `src` exactly.
bool follow(Frame& view, const FrameChange& c, const Frame& src) {
  apply_moves(view, c.moves);
  paint(view, src, c.damage);
  return view.same_pixels(src, src.bounds());
}

Clock::time_point at(uint64_t tick, double fps = 30) {
  return Clock::time_point{} + std::chrono::nanoseconds(int64_t(double(tick) * 1e9 / fps));
}

FramePtr frame_of(const DemoSource& d, uint64_t tick) { return std::make_shared<Frame>(d.render(tick)); }

// The tiles fully inside `r`.
std::vector<size_t> tiles_inside(const TileGrid& g, const Rect& r) {
  std::vector<size_t> out;
  for (int32_t row = 0; row < g.rows(); ++row)
    for (int32_t col = 0; col < g.cols(); ++col)
      if (g.rect(col, row).intersect(r) == g.rect(col, row)) out.push_back(g.index(col, row));
  return out;
}

}  // namespace

TEST(TileDiff, FindsExactlyTheChangedTiles) {
  Frame a(100, 70), b(100, 70);
  TileGrid g(a.size(), 32);
  EXPECT_EQ(g.cols(), 4);
  EXPECT_EQ(g.rows(), 3);
  std::vector<uint8_t> m(g.count());
  EXPECT_EQ(diff_tiles(a, b, g, a.bounds(), m), 0u);
  b.set_pixel(99, 69, 1);  // the clipped corner tile
  b.set_pixel(33, 0, 1);
  EXPECT_EQ(diff_tiles(a, b, g, a.bounds(), m), 2u);
  EXPECT_TRUE(m[g.index(3, 2)]);
  EXPECT_TRUE(m[g.index(1, 0)]);
  EXPECT_EQ(g.region_of(m).area(), 32 * 32 + 4 * 6);
  // An area that misses the change finds nothing.
  std::vector<uint8_t> n(g.count());
  EXPECT_EQ(diff_tiles(a, b, g, {0, 32, 60, 30}, n), 0u);
}

TEST(TileDiff, OddSizesAndStridesIgnorePadding) {
  for (auto [w, h, stride] : {std::tuple{1, 1, 4}, {1, 1, 64}, {4097, 3, 4097 * 4 + 12}, {7, 5, 44}}) {
    Frame a(w, h, stride), b(w, h, stride);
    // Padding bytes differ, pixels do not.
    for (int32_t y = 0; y < h; ++y)
      std::memset(b.data() + size_t(y) * size_t(stride) + size_t(w) * 4, 0xAB, size_t(stride - w * 4));
    TileGrid g(a.size(), 16);
    std::vector<uint8_t> m(g.count());
    EXPECT_EQ(diff_tiles(a, b, g, a.bounds(), m), 0u) << w << "x" << h;
    b.set_pixel(w - 1, h - 1, 5);
    EXPECT_EQ(diff_tiles(a, b, g, a.bounds(), m), 1u) << w << "x" << h;
  }
}

TEST(ScrollDetector, FindsAShiftedBlockAndVerifiesIt) {
  DemoSource d({640, 400}, 30);
  Frame a = d.render(0);
  uint64_t t = uint64_t(d.ticks_per_line());
  Frame b = d.render(t);
  Rect area = changed_bounds(a, b, d.layout().terminal_text);
  ASSERT_FALSE(area.empty());
  auto m = find_vertical_scroll(a, b, area, 24);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->src_y - m->dst.y, 12);  // one text line up
  for (int32_t y = 0; y < m->dst.height; ++y)
    ASSERT_EQ(std::memcmp(b.row(m->dst.y + y) + m->dst.x, a.row(m->src_y + y) + m->src_x, size_t(m->dst.width) * 4), 0);
  // Video is not a scroll.
  Frame v0 = d.render(1), v1 = d.render(2);
  EXPECT_FALSE(find_vertical_scroll(v0, v1, d.layout().video_content, 24));
}

class TrackerReplay : public ::testing::TestWithParam<bool> {};

// Replays a minute of the demo desktop (with skipped ticks) through the tracker and a viewer:
// the viewer's picture must equal every frame exactly (recall), and every reported tile must
// really differ after the moves (precision), refresh tiles aside.
TEST_P(TrackerReplay, ViewerStaysExactAndReportsAreReal) {
  const bool use_hints = GetParam();
  DemoSource d({640, 400}, 30);
  DamageTracker tracker;
  uint64_t tick = 0;
  FramePtr prev = frame_of(d, 0);
  tracker.update(prev, nullptr, at(0));
  Frame view = *prev;
  std::mt19937 rng(7);
  int64_t reported = 0, real = 0, moves = 0;
  while (tick < 30 * 60) {
    uint64_t next = tick + 1 + (rng() % 8 == 0 ? rng() % 5 : 0);
    FramePtr cur = frame_of(d, next);
    Region hints = d.damage_between(tick, next);
    FrameChange c = tracker.update(cur, use_hints ? &hints : nullptr, at(next));
    apply_moves(view, c.moves);
    moves += int64_t(c.moves.size());
    // Precision, per tile: a painted tile holds at least one pixel the viewer had wrong.
    TileGrid g = tracker.grid();
    Region needless;
    for (const Rect& r : c.damage.rects()) {
      Rect t = g.tiles_touching(r);
      for (int32_t row = t.y; row < t.bottom(); ++row)
        for (int32_t col = t.x; col < t.right(); ++col) {
          Rect tr = g.rect(col, row);
          if (view.same_pixels(*cur, tr) && Region(tr).intersect(c.refresh).empty()) needless.add(tr);
        }
    }
    EXPECT_TRUE(needless.empty()) << "tick " << next << ": " << needless.area() << " px reported but unchanged";
    reported += c.damage.area();
    for (const Rect& r : c.damage.rects())
      for (int32_t y = r.y; y < r.bottom(); ++y)
        for (int32_t x = r.x; x < r.right(); ++x) real += rgb_of(view.pixel(x, y)) != rgb_of(cur->pixel(x, y));
    paint(view, *cur, c.damage);
    ASSERT_TRUE(view.same_pixels(*cur, cur->bounds())) << "tick " << next << ": the viewer missed a change";
    tick = next;
    prev = cur;
  }
  EXPECT_GT(moves, 100);  // the terminal scrolled as moves, not repaints
  // Pixel precision of tile damage: how much of what was sent really changed.
  double precision = double(real) / double(reported);
  RecordProperty("pixel_precision", std::to_string(precision));
  EXPECT_GT(precision, 0.5);
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutHints, TrackerReplay, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "hints" : "full_scan"; });

TEST(DamageTracker, ScrollBecomesAMoveAndOnlyTheNewLineIsPainted) {
  DemoSource d({640, 400}, 30);
  DamageTracker tracker;
  uint64_t t = uint64_t(d.ticks_per_line());
  tracker.update(frame_of(d, t - 1), nullptr, at(t - 1));
  FrameChange c = tracker.update(frame_of(d, t), nullptr, at(t));
  ASSERT_EQ(c.moves.size(), 1u);
  auto truth = d.scroll_between(t - 1, t);
  ASSERT_TRUE(truth);
  const Move& m = c.moves[0];
  EXPECT_EQ(m.src_y - m.dst.y, truth->src_y - truth->dst.y);
  EXPECT_GE(m.dst.intersect(truth->dst).area() * 10, truth->dst.area() * 7);  // most of the text moved
  Region text_damage = c.damage;
  text_damage.intersect(Rect(d.layout().terminal_text));
  EXPECT_LT(text_damage.area() * 3, int64_t(d.layout().terminal_text.area()));
}

TEST(DamageTracker, VideoIsMotionWhilePlayingAndBuildsToLosslessWhenItStops) {
  DemoSource d({640, 400}, 30);
  DamageTracker tracker;
  const auto inner = tiles_inside(TileGrid({640, 400}, 32), d.layout().video_content);
  const auto text = tiles_inside(TileGrid({640, 400}, 32), d.layout().terminal_text);
  ASSERT_GT(inner.size(), 20u);
  auto all_motion = [&](const std::vector<size_t>& tiles) {
    Region m = tracker.motion_area();
    for (size_t i : tiles) {
      Rect r = tracker.grid().rect(int32_t(i % size_t(tracker.grid().cols())), int32_t(i / size_t(tracker.grid().cols())));
      if (!m.contains(r.x, r.y)) return false;
    }
    return true;
  };
  // The painted pointer is a moving object: tiles it crossed lately may rightly be motion.
  auto none_motion = [&](const std::vector<size_t>& tiles, uint64_t now) {
    Region m = tracker.motion_area();
    for (size_t i : tiles) {
      Rect r = tracker.grid().rect(int32_t(i % size_t(tracker.grid().cols())), int32_t(i / size_t(tracker.grid().cols())));
      bool pointer_was_here = false;
      for (uint64_t k = 0; k <= 15 && k <= now; ++k) pointer_was_here |= !d.pointer_rect(now - k).intersect(r).empty();
      if (!pointer_was_here && m.contains(r.x, r.y)) return false;
    }
    return true;
  };
  uint64_t became_motion = 0, last_change = 0, refreshed_at = 0, change_before_refresh = 0, motion_again = 0;
  Region refreshed;
  for (uint64_t t = 0; t < 30 * 12; ++t) {
    FrameChange c = tracker.update(frame_of(d, t), nullptr, at(t));
    if (!became_motion && all_motion(inner)) became_motion = t;
    EXPECT_TRUE(none_motion(text, t)) << "terminal text classified as motion at tick " << t;
    if (t > 0 && d.video_frame(t) != d.video_frame(t - 1)) last_change = t;
    if (!d.video_playing(t) && !c.refresh.empty() && !refreshed_at) {
      refreshed_at = t;
      change_before_refresh = last_change;
      refreshed = c.refresh;
    }
    if (refreshed_at && !motion_again && d.video_playing(t) && all_motion(inner)) motion_again = t;
    if (!became_motion) continue;
    // Hysteresis: once motion, the video stays motion for as long as it plays.
    if (d.video_playing(t) && t > became_motion && t < 30 * 8) {
      EXPECT_TRUE(all_motion(inner)) << "flipped at tick " << t;
    }
  }
  EXPECT_GT(became_motion, 0u);
  EXPECT_LE(became_motion, 6u) << "video took too long to be classified as motion";
  ASSERT_GT(refreshed_at, 0u) << "no lossless repaint after the video stopped";
  EXPECT_LE(double(refreshed_at - change_before_refresh) / 30.0, 0.300 + 1e-9) << "repaint later than 300 ms after the last change";
  for (size_t i : inner) {
    Rect r = tracker.grid().rect(int32_t(i % size_t(tracker.grid().cols())), int32_t(i / size_t(tracker.grid().cols())));
    EXPECT_TRUE(refreshed.contains(r.x, r.y));
  }
  EXPECT_GT(motion_again, refreshed_at);
  EXPECT_LE(motion_again - uint64_t(30 * 10), 6u) << "video not motion again soon after it resumed";
}

TEST(DamageTracker, HintsNarrowTheSearchButAreNotTheOnlyTruth) {
  auto a = std::make_shared<Frame>(256, 256);
  DamageTrackerConfig cfg;
  cfg.full_scan_interval = 10;
  DamageTracker tracker(cfg);
  tracker.update(a, nullptr, at(0));
  auto b = std::make_shared<Frame>(*a);
  b->set_pixel(200, 200, 0xFFFFFFFF);  // a change the source forgot to report
  b->set_pixel(10, 10, 0xFFFFFFFF);    // and one it reported
  Region lying(Rect{0, 0, 64, 64});
  FrameChange c = tracker.update(b, &lying, at(1));
  EXPECT_TRUE(c.damage.contains(10, 10));
  EXPECT_FALSE(c.damage.contains(200, 200));  // hints narrowed the search...
  // ...but a full scan within full_scan_interval frames finds what they missed.
  bool found = false;
  for (uint64_t t = 2; t <= 11 && !found; ++t) {
    auto next = std::make_shared<Frame>(*b);
    Region empty;
    found = tracker.update(next, &empty, at(t)).damage.contains(200, 200);
    b = next;
  }
  EXPECT_TRUE(found);
}

TEST(DamageTracker, FirstFrameAndSizeChangeAreFullDamage) {
  DamageTracker tracker;
  auto a = std::make_shared<Frame>(1, 1);
  EXPECT_EQ(tracker.update(a, nullptr, at(0)).damage.area(), 1);
  EXPECT_TRUE(tracker.update(a, nullptr, at(1)).damage.empty());  // same frame object: nothing
  auto b = std::make_shared<Frame>(4097, 3);
  FrameChange c = tracker.update(b, nullptr, at(2));
  EXPECT_EQ(c.damage.area(), 4097 * 3);
  EXPECT_TRUE(c.moves.empty());
  auto b2 = std::make_shared<Frame>(4097, 3);
  b2->set_pixel(4096, 2, 1);
  c = tracker.update(b2, nullptr, at(3));
  EXPECT_EQ(c.damage.bounds(), (Rect{4096, 2, 1, 1}));  // exactly the changed pixel, not its tile
}

// A viewer that skips frames gets accumulated moves and damage from the hub, and must still
// end up exact: moves whose source was not yet repainted turn into damage.
TEST(FrameHubMoves, SkippingViewerStaysExact) {
  DemoSource d({640, 400}, 30);
  DamageTracker tracker;
  FrameHub hub;
  auto f0 = frame_of(d, 0);
  hub.publish(f0, tracker.update(f0, nullptr, at(0)));
  auto sub = hub.subscribe();
  Frame view;
  std::mt19937 rng(11);
  int took = 0;
  size_t moves_seen = 0;
  for (uint64_t t = 1; t < 30 * 30; ++t) {
    auto f = frame_of(d, t);
    hub.publish(f, tracker.update(f, nullptr, at(t)));
    if (rng() % 4 != 0) continue;  // the viewer is busy: frames pile up
    auto u = sub->take_frame();
    if (!u) continue;
    if (u->resized) view = Frame(u->frame->width(), u->frame->height());
    apply_moves(view, u->moves);
    moves_seen += u->moves.size();
    paint(view, *u->frame, u->damage);
    ASSERT_TRUE(view.same_pixels(*u->frame, u->frame->bounds())) << "tick " << t;
    ++took;
  }
  EXPECT_GT(took, 100);
  EXPECT_GT(moves_seen, 10u);
}

namespace {

// A desktop with a detailed window at (wx, wy): what a window drag looks like frame by frame.
FramePtr desktop_with_window(int32_t wx, int32_t wy) {
  auto f = std::make_shared<Frame>(640, 400);
  for (int32_t y = 0; y < 400; ++y)
    for (int32_t x = 0; x < 640; ++x)
      f->set_pixel(x, y, bgrx(uint8_t(40 + y / 8), uint8_t(60 + x / 16), uint8_t(((x / 64 + y / 64) & 1) ? 120 : 110)));
  uint64_t h = 42;
  for (int32_t y = 0; y < 150; ++y)
    for (int32_t x = 0; x < 220; ++x) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      bool ink = (y % 12) > 2 && (y % 12) < 10 && (h >> 40) % 3 == 0;
      uint32_t px = y < 18 ? bgrx(0x3d, 0x5a, 0x80) : ink ? bgrx(0xd0, 0xd0, 0xd0) : bgrx(0x1a, 0x1c, 0x20);
      if (wx + x < 640 && wy + y < 400) f->set_pixel(wx + x, wy + y, px);
    }
  return f;
}

}  // namespace

TEST(DamageTracker, DraggedWindowBecomesAMove) {
  DamageTracker tracker;
  int32_t wx = 100, wy = 80;
  FramePtr f = desktop_with_window(wx, wy);
  tracker.update(f, nullptr, at(0));
  Frame view = *f;
  int found = 0;
  for (uint64_t t = 1; t <= 20; ++t) {
    int32_t nx = wx + 7, ny = wy + (t % 3 == 0 ? -5 : 4);
    FramePtr g = desktop_with_window(nx, ny);
    FrameChange c = tracker.update(g, nullptr, at(t));
    for (const Move& m : c.moves) {
      if (m.dst.x - m.src_x == 7 && m.dst.y - m.src_y == ny - wy &&
          m.dst.intersect({nx, ny, 220, 150}).area() * 10 >= 220 * 150 * 9)
        ++found;
    }
    ASSERT_TRUE(follow(view, c, *g)) << "step " << t;
    // The window's content was moved, not sent again: what is painted is the uncovered desktop
    // (an L-shaped strip, in whole tiles), well under the window's own area.
    if (!c.moves.empty()) {
      EXPECT_LT(c.damage.area() * 10, 220 * 150 * 7) << "step " << t;
    }
    wx = nx;
    wy = ny;
  }
  EXPECT_GE(found, 18) << "window drags recognised in " << found << " of 20 steps";
}

TEST(ScrollDetector, MovedBlockNeedsRealContent) {
  // Flat areas match anywhere: no move may be claimed from them.
  Frame a(200, 200), b(200, 200);
  a.fill(a.bounds(), bgrx(10, 10, 10));
  b.fill(b.bounds(), bgrx(10, 10, 10));
  b.fill({50, 50, 60, 60}, bgrx(200, 0, 0));
  EXPECT_FALSE(find_moved_block(a, b, a.bounds(), 48, 24));
}

// A change made of moves alone (content scrolled, nothing new exposed) must still reach the
// viewer, even when it cancels damage the viewer had not taken yet.
TEST(FrameHubMoves, MovesAloneAreAnUpdate) {
  FrameHub hub;
  auto f0 = std::make_shared<Frame>(64, 64);
  hub.publish(f0, Region(f0->bounds()));
  auto sub = hub.subscribe();
  ASSERT_TRUE(sub->take_frame());
  auto f1 = std::make_shared<Frame>(64, 64);
  hub.publish(f1, Region(Rect{0, 32, 64, 32}));
  FrameChange only_moves;
  only_moves.moves.push_back(Move{{0, 32, 64, 32}, 0, 0});  // covers the pending damage
  hub.publish(f1, only_moves);
  EXPECT_TRUE(sub->wait(std::chrono::milliseconds(100)));
  auto u = sub->take_frame();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->moves.size(), 1u);
  EXPECT_TRUE(u->damage.empty());
}

namespace {

// A 640x400 desktop; `noise_seed` != 0 fills `area` with pixels of that seed (a video frame).
FramePtr desktop_with_noise(const Rect& area, uint64_t noise_seed) {
  auto f = std::make_shared<Frame>(640, 400);
  f->fill(f->bounds(), bgrx(40, 60, 110));
  uint64_t h = noise_seed;
  if (noise_seed)
    for (int32_t y = area.y; y < area.y + area.height; ++y)
      for (int32_t x = area.x; x < area.x + area.width; ++x) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        f->set_pixel(x, y, uint32_t(h >> 32) | 0xFF000000u);
      }
  return f;
}

bool covers(const Region& r, const Rect& area) {
  Region inside(area);
  inside.intersect(r);
  return inside.area() == area.area();
}

// A 640x400 desktop with `area` holding a page of "text" (dark dots on white, as glyphs sit on
// a flat background), changing with `seed`; 0: no page.
FramePtr desktop_with_text(const Rect& area, uint64_t seed) {
  auto f = std::make_shared<Frame>(640, 400);
  f->fill(f->bounds(), bgrx(40, 60, 110));
  if (!seed) return f;
  f->fill(area, bgrx(255, 255, 255));
  uint64_t h = seed;
  for (int32_t y = area.y; y < area.bottom(); ++y)
    for (int32_t x = area.x; x < area.right(); ++x) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      if ((h >> 59) < 6) f->set_pixel(x, y, bgrx(20, 20, 30));
    }
  return f;
}

}  // namespace

TEST(TileContent, PicturesHaveManyColoursAndNoBackground) {
  const Rect video{64, 64, 384, 256};
  auto noise = desktop_with_noise(video, 5);
  auto text = desktop_with_text(video, 5);
  EXPECT_TRUE(looks_pictorial(*noise, {64, 64, 32, 32}));
  EXPECT_FALSE(looks_pictorial(*text, {64, 64, 32, 32}));
  EXPECT_FALSE(looks_pictorial(*noise, {0, 0, 32, 32}));  // flat wallpaper
  EXPECT_FALSE(looks_pictorial(*noise, {}));
  // Anti-aliased text: many shades, but the background covers most of the tile.
  Frame aa(32, 32);
  aa.fill(aa.bounds(), bgrx(255, 255, 255));
  for (int32_t i = 0; i < 300; ++i) aa.set_pixel(i % 32, (i * 7) % 32, bgrx(uint8_t(i % 200), uint8_t(i % 180), 90));
  EXPECT_FALSE(looks_pictorial(aa, aa.bounds()));
  // A smooth gradient (a photo's sky): many colours, none dominant.
  Frame sky(32, 32);
  for (int32_t y = 0; y < 32; ++y)
    for (int32_t x = 0; x < 32; ++x) sky.set_pixel(x, y, bgrx(uint8_t(100 + x * 3), uint8_t(120 + y * 3), 200));
  EXPECT_TRUE(looks_pictorial(sky, sky.bounds()));
}

// Video that starts is motion from its first changed frame when it looks like a picture
// (speculative start), else from its second (fast entry), not after the classifier's usual count.
TEST(DamageTracker, PictureThatStartsIsMotionAtOnceAndRepaintedIfStill) {
  const Rect video{64, 64, 384, 256};
  DamageTracker tracker;
  tracker.update(desktop_with_noise(video, 0), nullptr, at(0));
  tracker.update(desktop_with_noise(video, 1), nullptr, at(1));
  EXPECT_TRUE(covers(tracker.motion_area(), video)) << "a starting video not motion at its first change";

  // A picture that appears once and stays still (a photo opened): motion at first, then
  // repainted losslessly within lossless_after.
  DamageTracker once;
  once.update(desktop_with_noise(video, 0), nullptr, at(0));
  FrameChange first = once.update(desktop_with_noise(video, 1), nullptr, at(1));
  EXPECT_TRUE(covers(first.motion, video));
  Region refreshed;
  uint64_t t = 2;
  for (; t < 30 && refreshed.empty(); ++t) refreshed = once.update(desktop_with_noise(video, 1), nullptr, at(t)).refresh;
  EXPECT_TRUE(covers(refreshed, video));
  EXPECT_LE(double(t - 1) / 30.0, 0.3 + 1e-9) << "repainted after " << (t - 1) << " frames";
  EXPECT_TRUE(once.motion_area().empty());

  // Without the speculative start, the second change decides (fast entry).
  DamageTrackerConfig no_spec;
  no_spec.pictorial_start = false;
  DamageTracker second(no_spec);
  second.update(desktop_with_noise(video, 0), nullptr, at(0));
  second.update(desktop_with_noise(video, 1), nullptr, at(1));
  EXPECT_TRUE(second.motion_area().empty());
  second.update(desktop_with_noise(video, 2), nullptr, at(2));
  EXPECT_TRUE(covers(second.motion_area(), video)) << "video not motion at its second change";

  // With fast entry off too, the classifier's own count decides (later than the second change).
  DamageTrackerConfig off;
  off.fast_motion_tiles = 0;
  DamageTracker slow(off);
  slow.update(desktop_with_noise(video, 0), nullptr, at(0));
  slow.update(desktop_with_noise(video, 1), nullptr, at(1));
  slow.update(desktop_with_noise(video, 2), nullptr, at(2));
  EXPECT_TRUE(slow.motion_area().empty());
}

// A page of text that appears (a window opening, a page turned) is sent exactly at once, never
// as video, and stays so when it does not change again.
TEST(DamageTracker, TextThatAppearsStaysLossless) {
  const Rect page{64, 64, 384, 256};
  DamageTracker tracker;
  tracker.update(desktop_with_text(page, 0), nullptr, at(0));
  for (uint64_t t = 1; t < 10; ++t) {
    FrameChange c = tracker.update(desktop_with_text(page, 1), nullptr, at(t));
    EXPECT_TRUE(c.motion.empty()) << "tick " << t;
    EXPECT_TRUE(tracker.motion_area().empty()) << "tick " << t;
    if (t == 1) {
      EXPECT_TRUE(covers(c.damage, page));
    }
  }
}

TEST(DamageTracker, SparseRingOfChangesStaysLossless) {
  // Changes along the four edges of a large box (a window's frame being redrawn) fill little of
  // their bounding box: never motion, however often they change.
  DamageTracker tracker;
  auto frame = [](uint64_t seed) {
    auto f = std::make_shared<Frame>(640, 400);
    f->fill(f->bounds(), bgrx(40, 60, 110));
    if (seed) {
      uint32_t c = bgrx(uint8_t(seed * 37), uint8_t(seed * 91), uint8_t(seed * 13));
      f->fill({32, 32, 576, 32}, c);
      f->fill({32, 336, 576, 32}, c);
      f->fill({32, 64, 32, 272}, c);
      f->fill({576, 64, 32, 272}, c);
    }
    return f;
  };
  tracker.update(frame(0), nullptr, at(0));
  for (uint64_t t = 1; t < 60; ++t) {
    tracker.update(frame(t), nullptr, at(t));
    EXPECT_TRUE(tracker.motion_area().empty()) << "tick " << t;
  }
}

namespace {

// Rows of one colour each (flat along x, as many wallpapers and window backgrounds are), a
// column of text on the left, and a text window at (wx, wy).
FramePtr flat_desktop_with_window(int32_t wx, int32_t wy) {
  auto f = std::make_shared<Frame>(640, 400);
  for (int32_t y = 0; y < 400; ++y) f->fill({0, y, 640, 1}, bgrx(uint8_t(30 + y / 4), 70, 120));
  uint64_t h = 7;
  for (int32_t y = 20; y < 380; ++y)
    for (int32_t x = 8; x < 632; ++x) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      if ((y % 14) > 3 && (h >> 40) % 5 == 0) f->set_pixel(x, y, bgrx(0xe0, 0xe0, 0xe0));
    }
  for (int32_t y = 0; y < 160; ++y)
    for (int32_t x = 0; x < 240; ++x) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      bool ink = (y % 12) > 2 && (y % 12) < 10 && (h >> 40) % 3 == 0;
      uint32_t px = ink ? bgrx(0x10, 0x10, 0x40) : bgrx(0xff, 0xff, 0xf0);
      if (wx + x < 640 && wy + y < 400) f->set_pixel(wx + x, wy + y, px);
    }
  return f;
}

// A scene that pans one pixel row and five columns a frame, with a square that moves on its own.
FramePtr panning_scene(uint64_t t) {
  auto f = std::make_shared<Frame>(640, 400);
  f->fill(f->bounds(), bgrx(40, 60, 110));
  const Rect pic{128, 64, 384, 256};
  for (int32_t y = pic.y; y < pic.bottom(); ++y)
    for (int32_t x = pic.x; x < pic.right(); ++x) {
      uint64_t u = uint64_t(x + int32_t(t) * 5), v = uint64_t(y + int32_t(t));
      uint64_t k = (u * 2654435761u) ^ (v * 40503u);
      k ^= k >> 13;
      f->set_pixel(x, y, bgrx(uint8_t(k), uint8_t(k >> 8), uint8_t(k >> 16)));
    }
  for (int32_t i = 0; i < 6; ++i)  // things moving on their own, spread over the picture
    f->fill({pic.x + 20 + i * 60, pic.y + 20 + int32_t((t * 7 + uint64_t(i) * 40) % 200), 24, 24},
            bgrx(uint8_t(t * 30), 200, uint8_t(i * 40)));
  return f;
}

}  // namespace

// A window dragged sideways over rows that are flat along x: the matching run of a row reaches
// past the window's edges, yet the block found is the window, at every step.
TEST(DamageTracker, WindowDraggedOverFlatRowsIsOneMove) {
  DamageTracker tracker;
  int32_t wx = 150, wy = 100;
  FramePtr f = flat_desktop_with_window(wx, wy);
  tracker.update(f, nullptr, at(0));
  Frame view = *f;
  for (uint64_t t = 1; t <= 20; ++t) {
    int32_t nx = wx + 10, ny = wy + (t % 4 == 0 ? 3 : 0);
    FramePtr g = flat_desktop_with_window(nx, ny);
    FrameChange c = tracker.update(g, nullptr, at(t));
    ASSERT_EQ(c.moves.size(), 1u) << "step " << t;
    EXPECT_GE(c.moves[0].dst.intersect({nx, ny, 240, 160}).area() * 100, 240 * 160 * 95) << "step " << t;
    EXPECT_TRUE(c.motion.empty()) << "a dragged window is never video, step " << t;
    ASSERT_TRUE(follow(view, c, *g)) << "step " << t;
    wx = nx;
    wy = ny;
  }
}

// A window whose text fills only its left part: its flat right part leaves its far edge apart
// from the rest of what changes. The move still takes the whole window with its edge, and the
// edge, changing every frame, never becomes a stream.
TEST(DamageTracker, WindowWithAFlatPartMovesWholeWithItsFarEdge) {
  auto scene = [](int32_t wx) {
    auto f = std::make_shared<Frame>(640, 400);
    f->fill(f->bounds(), bgrx(40, 60, 110));
    const Rect win{wx, 100, 300, 200};
    f->fill(win, bgrx(0x50, 0x54, 0x5c));
    f->fill({win.x + 2, win.y + 2, win.width - 4, win.height - 4}, bgrx(0xff, 0xff, 0xf0));
    uint64_t h = 11;
    for (int32_t y = win.y + 4; y < win.bottom() - 4; ++y)
      for (int32_t x = win.x + 6; x < win.x + 110; ++x) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        if ((y % 12) > 2 && (y % 12) < 10 && (h >> 40) % 3 == 0) f->set_pixel(x, y, bgrx(0x10, 0x10, 0x40));
      }
    return f;
  };
  DamageTracker tracker;
  int32_t wx = 40;
  FramePtr f = scene(wx);
  tracker.update(f, nullptr, at(0));
  Frame view = *f;
  for (uint64_t t = 1; t <= 30; ++t) {
    wx += 6;
    FramePtr g = scene(wx);
    FrameChange c = tracker.update(g, nullptr, at(t));
    ASSERT_EQ(c.moves.size(), 1u) << "step " << t;
    EXPECT_TRUE(c.moves[0].dst.contains(wx + 299, 200)) << "the far edge is not in the move, step " << t;
    EXPECT_TRUE(tracker.motion_area().empty()) << "step " << t;
    ASSERT_TRUE(follow(view, c, *g)) << "step " << t;
  }
}

TEST(ScrollDetector, ExtendedMoveReachesWhatMatchesAndKeepsOnlyWhatDiffers) {
  Frame prev(200, 100), cur(200, 100);
  prev.fill(prev.bounds(), bgrx(1, 2, 3));
  cur.fill(cur.bounds(), bgrx(1, 2, 3));
  // A bordered box moved 5 px right; a block from its left part was found.
  for (Frame* f : {&prev, &cur}) {
    int32_t x = f == &prev ? 20 : 25;
    f->fill({x, 20, 100, 50}, bgrx(200, 0, 0));
    f->fill({x + 1, 21, 98, 48}, bgrx(250, 250, 250));
    f->fill({x + 10, 30, 20, 20}, bgrx(0, 0, 200));
  }
  Move found{{30, 25, 30, 30}, 25, 25};
  Move m = extend_move(prev, cur, found);
  EXPECT_EQ(m.dst.x - m.src_x, 5);
  EXPECT_EQ(m.dst.y - m.src_y, 0);
  // It now holds every pixel that differs (both edges of the box), and nothing that does not.
  EXPECT_EQ(m.dst, changed_bounds(prev, cur, prev.bounds()));
  Frame view = prev;
  for (int32_t y = 0; y < m.dst.height; ++y)
    for (int32_t x = 0; x < m.dst.width; ++x) view.set_pixel(m.dst.x + x, m.dst.y + y, prev.pixel(m.src_x + x, m.src_y + y));
  EXPECT_TRUE(view.same_pixels(cur, cur.bounds()));
}

// A scene that pans exactly (matching blocks everywhere) but changes elsewhere too is video: it
// is motion at its second change and no moves are taken inside it once it is.
TEST(DamageTracker, PanningVideoIsMotionNotMoves) {
  DamageTracker tracker;
  tracker.update(panning_scene(0), nullptr, at(0));
  const Rect pic{128, 64, 384, 256};
  for (uint64_t t = 1; t < 30; ++t) {
    FrameChange c = tracker.update(panning_scene(t), nullptr, at(t));
    if (t >= 2) {
      EXPECT_TRUE(covers(tracker.motion_area(), pic)) << "tick " << t;
    }
    if (t >= 3) {
      EXPECT_TRUE(c.moves.empty()) << "tick " << t;
    }
  }
}
