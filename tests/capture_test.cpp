#include <gtest/gtest.h>

#include <filesystem>

#include "capture/capture_loop.h"
#include "capture/demo_source.h"
#include "capture/frame_source.h"
#include "capture/image_source.h"
#include "core/png_file.h"

using namespace tessera;

namespace {
// Every pixel that differs between a and b.
Region diff(const Frame& a, const Frame& b) {
  Region r;
  for (int32_t y = 0; y < a.height(); ++y)
    for (int32_t x = 0; x < a.width(); ++x)
      if (rgb_of(a.pixel(x, y)) != rgb_of(b.pixel(x, y))) r.add({x, y, 1, 1});
  return r;
}
}  // namespace

TEST(DemoSource, SameIndexSamePixels) {
  DemoSource a({320, 200}, 30), b({320, 200}, 30);
  for (uint64_t i : {0ull, 1ull, 17ull, 1000ull}) {
    Frame fa = a.render(i), fb = b.render(i);
    EXPECT_TRUE(fa.same_pixels(fb, fa.bounds())) << "tick " << i;
  }
  EXPECT_FALSE(a.render(0).same_pixels(a.render(1), {0, 0, 320, 200}));
}

TEST(DemoSource, HasTheAdvertisedParts) {
  DemoSource d({1280, 800}, 30);
  const auto& l = d.layout();
  EXPECT_FALSE(l.terminal_text.empty());
  EXPECT_FALSE(l.video_content.empty());
  EXPECT_TRUE(l.terminal.intersect(l.video).empty());
  // The video window changes every tick, the terminal scrolls every ticks_per_line ticks.
  Frame f0 = d.render(0), f1 = d.render(1);
  EXPECT_FALSE(f0.same_pixels(f1, l.video_content));
  EXPECT_EQ(d.scrolled_lines(0), d.scrolled_lines(uint64_t(d.ticks_per_line() - 1)));
  EXPECT_EQ(d.scrolled_lines(uint64_t(d.ticks_per_line())), 1u);
  Frame fs = d.render(uint64_t(d.ticks_per_line()));
  EXPECT_FALSE(f0.same_pixels(fs, l.terminal_text));
  // Scrolling moves the text up by exactly one line.
  Rect below{l.terminal_text.x, l.terminal_text.y + 12, l.terminal_text.width, 12 * 10};
  for (int32_t y = below.y; y < below.bottom(); ++y) {
    for (int32_t x = below.x; x < below.right(); ++x) {
      Rect p0 = d.pointer_rect(0), p1 = d.pointer_rect(uint64_t(d.ticks_per_line()));
      bool under_pointer = p0.contains(x, y) || p1.contains(x, y) || p0.contains(x, y - 12) || p1.contains(x, y - 12);
      if (under_pointer) continue;
      ASSERT_EQ(f0.pixel(x, y), fs.pixel(x, y - 12)) << x << "," << y;
    }
  }
}

class DemoDamage : public ::testing::TestWithParam<Size> {};

// The ground truth the damage tracker will be tested against must itself be right:
// every pixel that changed lies inside the reported damage, for consecutive and skipped ticks.
TEST_P(DemoDamage, ReportedDamageCoversEveryChangedPixel) {
  DemoSource d(GetParam(), 30);
  const std::pair<uint64_t, uint64_t> steps[] = {{0, 1}, {1, 2}, {6, 7}, {7, 8}, {3, 40}, {100, 101}};
  for (auto [a, b] : steps) {
    Frame fa = d.render(a), fb = d.render(b);
    Region changed = diff(fa, fb);
    Region missed = changed;
    missed.subtract(d.damage_between(a, b));
    EXPECT_TRUE(missed.empty()) << "ticks " << a << "->" << b << ": " << missed.area() << " changed pixels not reported";
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, DemoDamage,
                         ::testing::Values(Size{1, 1}, Size{7, 3}, Size{320, 200}, Size{641, 479}, Size{4097, 3}),
                         [](const ::testing::TestParamInfo<Size>& p) {
                           return std::to_string(p.param.width) + "x" + std::to_string(p.param.height);
                         });

TEST(DemoSource, CaptureMatchesRenderAndReportsDamageSinceLastCapture) {
  DemoSource d({200, 120}, 30);
  auto c0 = d.capture(0);
  EXPECT_EQ(c0.damage.area(), 200 * 120);
  auto c5 = d.capture(5);
  EXPECT_TRUE(c5.frame->same_pixels(d.render(5), c5.frame->bounds()));
  EXPECT_EQ(c5.damage, d.damage_between(0, 5));
  auto again = d.capture(5);
  EXPECT_TRUE(again.damage.empty());
}

TEST(DemoSource, RejectsBadSizes) {
  EXPECT_THROW(DemoSource({0, 10}, 30), std::invalid_argument);
  EXPECT_THROW(DemoSource({10, 20000}, 30), std::invalid_argument);
}

TEST(ImageSource, ShowsThePngExactlyAndThenStaysStill) {
  Frame f(333, 217);
  for (int y = 0; y < 217; ++y)
    for (int x = 0; x < 333; ++x) f.set_pixel(x, y, bgrx(uint8_t(x), uint8_t(y), uint8_t(x * y)));
  auto path = (std::filesystem::temp_directory_path() / "tessera_image_source.png").string();
  write_png(f, path);
  auto src = make_frame_source("image:" + path, {});
  EXPECT_EQ(src->size(), (Size{333, 217}));
  auto c = src->capture(0);
  EXPECT_TRUE(c.frame->same_pixels(f, f.bounds()));
  EXPECT_EQ(c.damage.area(), 333 * 217);
  EXPECT_TRUE(src->capture(1).damage.empty());
  std::filesystem::remove(path);
}

TEST(FrameSourceFactory, RejectsUnknownSpecs) {
  EXPECT_THROW(make_frame_source("bogus", {}), std::invalid_argument);
  EXPECT_THROW(make_frame_source("image:", {}), std::invalid_argument);
  EXPECT_THROW(make_frame_source("image:/nonexistent.png", {}), std::runtime_error);
  EXPECT_NO_THROW(make_frame_source("demo", {}));
}

TEST(CaptureLoop, PublishesFramesAndCursor) {
  DemoSource d({64, 48}, 100);
  FrameHub hub;
  CaptureLoop loop(d, hub, 100);
  auto sub = hub.subscribe();
  loop.start();
  EXPECT_TRUE(hub.latest());  // the first frame is there before start() returns
  EXPECT_TRUE(sub->wait(std::chrono::milliseconds(1000)));
  auto first = sub->take_frame();
  ASSERT_TRUE(first);
  EXPECT_TRUE(sub->take_cursor());
  ASSERT_TRUE(sub->wait(std::chrono::milliseconds(1000)));
  auto second = sub->take_frame();
  ASSERT_TRUE(second);
  EXPECT_NE(first->frame, second->frame);
  loop.stop();
  EXPECT_GE(loop.frames_captured(), 2u);
}
