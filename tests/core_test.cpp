#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "core/frame.h"
#include "core/frame_clock.h"
#include "core/frame_hub.h"
#include "core/frame_pool.h"
#include "core/png_file.h"
#include "core/printable.h"
#include "core/region.h"

using namespace tessera;

TEST(Frame, StrideAndPixels) {
  Frame f(5, 3, 32);
  EXPECT_EQ(f.stride(), 32);
  EXPECT_EQ(f.byte_size(), 96u);
  f.fill({1, 1, 3, 1}, bgrx(1, 2, 3));
  EXPECT_EQ(f.pixel(0, 1), 0u);
  EXPECT_EQ(f.pixel(1, 1), bgrx(1, 2, 3));
  EXPECT_EQ(f.pixel(3, 1), bgrx(1, 2, 3));
  EXPECT_EQ(f.pixel(4, 1), 0u);
  EXPECT_THROW(Frame(4, 4, 8), std::invalid_argument);
  EXPECT_THROW(Frame(-1, 4), std::invalid_argument);
}

TEST(Frame, FillClipsToBounds) {
  Frame f(4, 4);
  f.fill({-2, -2, 100, 3}, bgrx(9, 9, 9));
  EXPECT_EQ(f.pixel(3, 0), bgrx(9, 9, 9));
  EXPECT_EQ(f.pixel(0, 1), 0u);
}

TEST(Region, UnionSubtractIntersect) {
  Region r;
  EXPECT_TRUE(r.empty());
  r.add({0, 0, 10, 10}).add({5, 5, 10, 10});
  EXPECT_EQ(r.area(), 175);
  EXPECT_EQ(r.bounds(), (Rect{0, 0, 15, 15}));
  Region hole(Rect{2, 2, 2, 2});
  r.subtract(hole);
  EXPECT_EQ(r.area(), 171);
  EXPECT_FALSE(r.contains(2, 2));
  EXPECT_TRUE(r.contains(1, 1));
  r.intersect(Rect{0, 0, 5, 5});
  EXPECT_EQ(r.area(), 21);
  Region t(Rect{0, 0, 1, 1});
  t.translate(3, 4);
  EXPECT_EQ(t.bounds(), (Rect{3, 4, 1, 1}));
  EXPECT_TRUE(Region(Rect{0, 0, 0, 5}).empty());
}

TEST(Region, RectsAreDisjointAndCoverTheArea) {
  Region r;
  r.add({0, 0, 4, 4}).add({2, 2, 4, 4}).add({10, 0, 1, 1});
  int64_t sum = 0;
  auto rects = r.rects();
  for (size_t i = 0; i < rects.size(); ++i) {
    sum += rects[i].area();
    for (size_t j = i + 1; j < rects.size(); ++j) EXPECT_TRUE(rects[i].intersect(rects[j]).empty());
  }
  EXPECT_EQ(sum, r.area());
  EXPECT_EQ(r.rect_count(), rects.size());
}

TEST(Region, CopyAndMoveKeepContents) {
  Region a(Rect{1, 2, 3, 4});
  Region b = a;
  Region c = std::move(a);
  EXPECT_EQ(b, c);
  b = Region(Rect{0, 0, 1, 1});
  EXPECT_FALSE(b == c);
}

TEST(FrameClock, SkipsTicksWhenLateAndStops) {
  FrameClock clock(100);
  uint64_t i = 99;
  ASSERT_TRUE(clock.wait_next({}, i));
  EXPECT_EQ(i, 0u);
  ASSERT_TRUE(clock.wait_next({}, i));
  EXPECT_EQ(i, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(55));
  ASSERT_TRUE(clock.wait_next({}, i));
  EXPECT_GE(i, 5u);  // the late loop jumps ahead instead of replaying missed ticks
  std::stop_source stop;
  stop.request_stop();
  EXPECT_FALSE(clock.wait_next(stop.get_token(), i));
  EXPECT_THROW(FrameClock(0), std::invalid_argument);
}

TEST(FrameHub, SubscriberAccumulatesDamageAndSkipsFrames) {
  FrameHub hub;
  auto f1 = std::make_shared<Frame>(8, 8);
  hub.publish(f1, Region(f1->bounds()));
  auto sub = hub.subscribe();
  auto u = sub->take_frame();
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->resized);
  EXPECT_EQ(u->damage.area(), 64);
  EXPECT_FALSE(sub->take_frame());

  auto f2 = std::make_shared<Frame>(8, 8);
  auto f3 = std::make_shared<Frame>(8, 8);
  hub.publish(f2, Region(Rect{0, 0, 2, 2}));
  hub.publish(f3, Region(Rect{4, 4, 2, 2}));
  u = sub->take_frame();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->frame, f3);  // only the newest frame, with both damages
  EXPECT_EQ(u->damage.area(), 8);
  EXPECT_FALSE(u->resized);

  auto big = std::make_shared<Frame>(10, 6);
  hub.publish(big, Region(Rect{0, 0, 1, 1}));
  u = sub->take_frame();
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->resized);
  EXPECT_EQ(u->damage.area(), 60);

  sub->request_full_frame();
  u = sub->take_frame();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->damage.area(), 60);

  hub.close();
  EXPECT_TRUE(sub->closed());
  EXPECT_FALSE(sub->wait(std::chrono::milliseconds(1)));
}

TEST(FrameHub, CursorUpdates) {
  FrameHub hub;
  auto sub = hub.subscribe();
  EXPECT_FALSE(sub->take_cursor());
  hub.publish_cursor({default_arrow_cursor(), 3, 4, true});
  EXPECT_TRUE(sub->wait(std::chrono::milliseconds(100)));
  auto c = sub->take_cursor();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->x, 3);
  EXPECT_FALSE(sub->take_cursor());
  auto late = hub.subscribe();
  EXPECT_TRUE(late->take_cursor());  // a new viewer learns the current pointer at once
}

class PngFile : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(PngFile, RoundTripIsExact) {
  auto [w, h] = GetParam();
  Frame f(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) f.set_pixel(x, y, bgrx(uint8_t(x * 7 + y), uint8_t(x ^ y), uint8_t(y * 13)));
  auto path = std::filesystem::temp_directory_path() / ("tessera_png_" + std::to_string(w) + "x" + std::to_string(h) + ".png");
  write_png(f, path.string());
  Frame g = read_png(path.string());
  std::filesystem::remove(path);
  ASSERT_EQ(g.size(), f.size());
  EXPECT_TRUE(g.same_pixels(f, f.bounds()));
}

INSTANTIATE_TEST_SUITE_P(OddSizes, PngFile,
                         ::testing::Values(std::pair{1, 1}, std::pair{3, 5}, std::pair{333, 217}, std::pair{4097, 3}),
                         [](const ::testing::TestParamInfo<std::pair<int, int>>& p) {
                           return std::to_string(p.param.first) + "x" + std::to_string(p.param.second);
                         });

TEST(PngFileErrors, MissingAndCorruptFilesGiveReasons) {
  EXPECT_THROW(read_png("/nonexistent/x.png"), std::runtime_error);
  auto path = std::filesystem::temp_directory_path() / "tessera_corrupt.png";
  FILE* fp = std::fopen(path.c_str(), "wb");
  std::fputs("\x89PNG\r\n\x1a\nthis is not a png", fp);
  std::fclose(fp);
  try {
    read_png(path.string());
    FAIL() << "corrupt PNG accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos);
  }
  std::filesystem::remove(path);
}

TEST(FrameHub, SubscriptionsGetOnlyWhatTheyAskFor) {
  FrameHub hub;
  auto f = std::make_shared<Frame>(8, 8);
  hub.publish(f, Region(f->bounds()));
  hub.publish_cursor({default_arrow_cursor(), 1, 1, true});
  auto cursor_only = hub.subscribe({.frames = false, .cursor = true});
  auto frames_only = hub.subscribe({.frames = true, .cursor = false});
  EXPECT_FALSE(cursor_only->take_frame());
  EXPECT_TRUE(cursor_only->take_cursor());
  EXPECT_TRUE(frames_only->take_frame());
  EXPECT_FALSE(frames_only->take_cursor());
  hub.publish(f, Region(Rect{0, 0, 1, 1}));
  EXPECT_FALSE(cursor_only->wait(std::chrono::milliseconds(10)));  // frames do not wake it
  EXPECT_FALSE(cursor_only->take_frame());
}

TEST(Printable, EscapesAndCutsPeerText) {
  EXPECT_EQ(printable("alice"), "alice");
  EXPECT_EQ(printable(std::string("a\nb\x1b[0m\\c\0d", 11)), "a\\x0ab\\x1b[0m\\x5cc\\x00d");
  EXPECT_EQ(printable("caf\xc3\xa9"), "caf\\xc3\\xa9");
  EXPECT_EQ(printable(std::string(100, 'x'), 8), "xxxxxxxx...(100 bytes in all)");
  EXPECT_EQ(printable(""), "");
}

TEST(FramePool, ReusesOnlyFramesNobodyHolds) {
  FramePool pool(4);
  auto a = pool.acquire({8, 4});
  EXPECT_EQ(a.held, 0u);
  pool.stamp(a.frame.get(), 7);
  FramePtr viewer = a.frame;  // a viewer still shows it
  a = {};
  auto b = pool.acquire({8, 4});
  EXPECT_NE(b.frame.get(), viewer.get());
  pool.stamp(b.frame.get(), 8);
  const Frame* first = viewer.get();
  viewer.reset();
  b = {};
  auto c = pool.acquire({8, 4});  // both free now: the newest generation first
  EXPECT_EQ(c.held, 8u);
  auto d = pool.acquire({8, 4});
  EXPECT_EQ(d.frame.get(), first);
  EXPECT_EQ(d.held, 7u);
  c = {}, d = {};
  auto e = pool.acquire({16, 4});  // another size: the old ones go
  EXPECT_EQ(e.held, 0u);
  EXPECT_EQ(pool.pooled(), 1u);
}
