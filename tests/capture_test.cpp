#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <vector>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "capture/capture_loop.h"
#include "capture/change_signal.h"
#include "capture/demo_source.h"
#include "capture/frame_source.h"
#include "capture/image_source.h"
#include "capture/video_source.h"
#include "core/image_compare.h"
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

namespace {

// A source that changes only when told to, and says so through a ChangeSignal.
class SignalledSource final : public FrameSource {
 public:
  std::string description() const override { return "signalled"; }
  Size size() const override { return {32, 32}; }
  CapturedFrame capture(uint64_t) override {
    std::lock_guard lock(mu_);
    signal_.clear();
    if (!frame_ || changes_) {
      auto f = std::make_shared<Frame>(32, 32);
      f->fill(f->bounds(), bgrx(uint8_t(version_ * 40), 0, 0));
      frame_ = std::move(f);
      bool first = captures_with_change_ == 0 && !changes_;
      changes_ = false;
      ++captures_with_change_;
      return {frame_, first ? Region(frame_->bounds()) : Region(Rect{0, 0, 32, 32})};
    }
    return {frame_, Region()};
  }
  int change_fd() const override { return signal_.fd(); }
  bool change_queued() override {
    std::lock_guard lock(mu_);
    return changes_;
  }
  void change() {
    std::lock_guard lock(mu_);
    ++version_;
    changes_ = true;
    signal_.set();
  }
  int captures_with_change() {
    std::lock_guard lock(mu_);
    return captures_with_change_;
  }

 private:
  std::mutex mu_;
  ChangeSignal signal_;
  FramePtr frame_;
  bool changes_ = false;
  int version_ = 0, captures_with_change_ = 0;
};

}  // namespace

// A change is read at once, not at the next tick; a burst is not read faster than the frame rate.
// 4K frames whose every pixel changes: cheap to capture, dear to track. Input events record
// when the source got them.
class BusyBigSource final : public FrameSource {
 public:
  BusyBigSource() {
    uint64_t h = 7;
    for (auto& slot : frames_) {
      auto f = std::make_shared<Frame>(3840, 2160);
      slot = f;
      for (int32_t y = 0; y < 2160; ++y) {
        uint32_t* row = f->row(y);
        for (int32_t x = 0; x < 3840; ++x) {
          h = h * 6364136223846793005ull + 1442695040888963407ull;
          row[x] = uint32_t(h >> 32) | 0xFF000000u;
        }
      }
    }
  }
  std::string description() const override { return "busy 4K"; }
  Size size() const override { return {3840, 2160}; }
  CapturedFrame capture(uint64_t index) override {
    ++captures;
    return {frames_[index % 2], Region(frames_[0]->bounds())};
  }
  void handle_input(const InputEvent&) override { got.push_back(std::chrono::steady_clock::now()); }
  std::vector<std::chrono::steady_clock::time_point> got;  // under the loop's source lock
  std::atomic<int> captures{0};

 private:
  FramePtr frames_[2];
};

// Input reaches the source without waiting for the frame being tracked.
TEST(CaptureLoop, InputDoesNotWaitForTheTracker) {
  BusyBigSource src;
  FrameHub hub;
  CaptureLoop loop(src, hub, 60);
  loop.start();
  std::vector<std::chrono::steady_clock::time_point> sent;
  for (int i = 0; i < 600; ++i) {
    sent.push_back(std::chrono::steady_clock::now());
    loop.deliver_input(InputEvent{});
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  loop.stop();
  ASSERT_EQ(src.got.size(), sent.size());
  EXPECT_GE(src.captures.load(), 10) << "frames were tracked meanwhile";
  std::vector<double> waited;
  for (size_t i = 0; i < sent.size(); ++i)
    waited.push_back(std::chrono::duration<double, std::milli>(src.got[i] - sent[i]).count());
  std::sort(waited.begin(), waited.end());
  const double p99 = waited[waited.size() * 99 / 100];
  // Events that waited for the tracker (up to ~20 ms each here) made the p99 2.5 ms.
  EXPECT_LT(p99, 1.0) << "p50 " << waited[waited.size() / 2] << " ms, max " << waited.back() << " ms";
  std::printf("input to source: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms over %zu events, %d frames\n",
              waited[waited.size() / 2], waited[waited.size() * 9 / 10], p99, waited.back(), waited.size(),
              src.captures.load());
}

TEST(CaptureLoop, ChangesAreReadAtOnceButNoFasterThanTheFrameRate) {
  SignalledSource src;
  FrameHub hub;
  CaptureLoop loop(src, hub, 4);  // a tick every 250 ms
  loop.start();
  auto sub = hub.subscribe();
  sub->take_frame();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // clear of the first frame's cap
  sub->take_frame();
  auto t0 = std::chrono::steady_clock::now();
  src.change();
  ASSERT_TRUE(sub->wait(std::chrono::milliseconds(1000)));
  auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(sub->take_frame());
  // The next tick is 200 ms away: a change that waited for it would take that long.
  EXPECT_LT(waited, std::chrono::milliseconds(120)) << "the change waited for the tick";
  EXPECT_GE(loop.early_captures(), 1u);
  // A change every 10 ms for a second: frames with damage stay at the frame rate (4 or 5 of
  // them, the first one early), not one per change.
  // Bounded by the time the loop really took: on a loaded machine its sleeps run long.
  int before = src.captures_with_change();
  auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    src.change();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int taken = src.captures_with_change() - before;
  const int ticks = int((std::chrono::steady_clock::now() - t1) / std::chrono::milliseconds(250));
  EXPECT_GE(taken, 3);
  EXPECT_LE(taken, ticks + 2) << "at most one capture per tick (and the early one)";
  loop.stop();
}

namespace {

// What a call threw as std::runtime_error; "" when it threw nothing (another exception fails the test).
std::string runtime_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return {};
}

// Clips made at test time with the ffmpeg CLI (FFmpeg's testsrc2 pattern: every frame differs
// from the one before), and the frames the CLI itself decodes from them as references.
class VideoSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("ffmpeg -nostdin -version > /dev/null 2>&1") != 0) GTEST_SKIP() << "the ffmpeg CLI is missing";
    dir_ = std::filesystem::temp_directory_path() / ("tessera_video_source_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  static void ffmpeg(const std::string& args) {
    std::string cmd = "ffmpeg -hide_banner -loglevel error -nostdin -y " + args;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  // 1 s of 160x96 at 10 fps as H.264 (with B-frames, a key frame every 5); the container (or
  // raw H.264) follows the name's extension.
  std::string make_clip(const std::string& name) {
    std::string path = (dir_ / name).string();
    ffmpeg("-f lavfi -i testsrc2=size=160x96:rate=10 -t 1 -c:v libx264 -pix_fmt yuv420p -g 5 '" + path + "'");
    return path;
  }
  // Every frame of `clip` as the ffmpeg CLI decodes it to BGRA.
  std::vector<Frame> reference_frames(const std::string& clip, Size size) {
    std::string raw = (dir_ / "reference.bgra").string();
    ffmpeg("-i '" + clip + "' -f rawvideo -pix_fmt bgra '" + raw + "'");
    std::ifstream in(raw, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t row = size_t(size.width) * 4, frame = row * size_t(size.height);
    std::vector<Frame> frames;
    for (size_t off = 0; off + frame <= bytes.size(); off += frame) {
      Frame& f = frames.emplace_back(size.width, size.height);
      for (int32_t y = 0; y < size.height; ++y) std::memcpy(f.row(y), bytes.data() + off + size_t(y) * row, row);
    }
    return frames;
  }

  std::filesystem::path dir_;
};

SourceOptions at_fps(double fps) { return {{1280, 800}, fps}; }

}  // namespace

TEST_F(VideoSourceTest, SizeAndDescription) {
  std::string clip = make_clip("clip.mp4");
  auto src = make_frame_source("video:" + clip, at_fps(20));
  EXPECT_EQ(src->size(), (Size{160, 96}));
  EXPECT_EQ(src->description(), "video clip.mp4 160x96 at 10 fps");
  auto c = src->capture(0);
  ASSERT_TRUE(c.frame);
  EXPECT_EQ(c.frame->size(), (Size{160, 96}));
}

TEST_F(VideoSourceTest, FirstFrameResemblesWhatTheFfmpegCliDecodes) {
  std::string clip = make_clip("clip.mp4");
  auto refs = reference_frames(clip, {160, 96});
  ASSERT_EQ(refs.size(), 10u);
  VideoSource src(clip, 20);
  auto c = src.capture(0);
  EXPECT_GE(psnr(*c.frame, refs[0], refs[0].bounds()), 40.0);
}

TEST_F(VideoSourceTest, TicksFollowTheVideosOwnRate) {
  // 10 fps video, 20 fps ticks: every video frame is shown for two ticks, a new one on even ticks.
  std::string clip = make_clip("clip.mp4");
  auto refs = reference_frames(clip, {160, 96});
  ASSERT_EQ(refs.size(), 10u);
  VideoSource src(clip, 20);
  CapturedFrame prev;
  for (uint64_t i = 0; i < 20; ++i) {
    auto c = src.capture(i);
    ASSERT_TRUE(c.frame);
    if (i % 2 == 0) {
      EXPECT_EQ(c.damage.area(), 160 * 96) << "tick " << i;
      if (i > 0) {
        EXPECT_FALSE(c.frame->same_pixels(*prev.frame, c.frame->bounds())) << "tick " << i;
      }
    } else {
      EXPECT_TRUE(c.damage.empty()) << "tick " << i;
      EXPECT_EQ(c.frame, prev.frame) << "tick " << i;
    }
    // The picture is video frame i / 2 (consecutive frames of testsrc2 are far apart).
    size_t k = size_t(i / 2);
    EXPECT_GE(psnr(*c.frame, refs[k], refs[k].bounds()), 40.0) << "tick " << i;
    if (k + 1 < refs.size()) {
      EXPECT_LT(psnr(*c.frame, refs[k + 1], refs[k].bounds()), 30.0) << "tick " << i;
    }
    prev = c;
  }
}

TEST_F(VideoSourceTest, LoopsAtTheEnd) {
  std::string clip = make_clip("clip.mp4");
  VideoSource src(clip, 20);
  EXPECT_DOUBLE_EQ(src.duration(), 1.0);
  std::vector<FramePtr> first;
  for (uint64_t i = 0; i < 20; ++i) first.push_back(src.capture(i).frame);
  for (uint64_t i = 20; i < 40; ++i) {
    auto c = src.capture(i);
    ASSERT_TRUE(c.frame);
    // Decoding is deterministic: the second pass is the first, pixel for pixel.
    EXPECT_TRUE(c.frame->same_pixels(*first[i - 20], c.frame->bounds())) << "tick " << i;
    EXPECT_EQ(c.damage.empty(), i % 2 == 1) << "tick " << i;
  }
  // A late clock skipping many passes lands in the right place.
  auto far = src.capture(20 * 1000 + 7);
  EXPECT_TRUE(far.frame->same_pixels(*first[7], far.frame->bounds()));
  EXPECT_EQ(far.damage.area(), 160 * 96);
}

TEST_F(VideoSourceTest, LoopsFilesThatDoNotSayHowLongTheyAre) {
  // Raw H.264 has neither timestamps nor a duration (and cannot seek): frames follow the stated
  // rate, the pass ends with the last frame, the file is read again from the start.
  std::string clip = make_clip("clip.h264");
  auto refs = reference_frames(clip, {160, 96});
  ASSERT_EQ(refs.size(), 10u);
  VideoSource src(clip, 20);
  EXPECT_EQ(src.duration(), 0.0);
  std::vector<FramePtr> first;
  for (uint64_t i = 0; i < 20; ++i) {
    first.push_back(src.capture(i).frame);
    EXPECT_GE(psnr(*first.back(), refs[i / 2], refs[0].bounds()), 40.0) << "tick " << i;
  }
  for (uint64_t i = 20; i < 40; ++i) {
    auto c = src.capture(i);
    EXPECT_TRUE(c.frame->same_pixels(*first[i - 20], c.frame->bounds())) << "tick " << i;
    EXPECT_EQ(c.damage.empty(), i % 2 == 1) << "tick " << i;
  }
  EXPECT_NEAR(src.duration(), 1.0, 1e-6);
}

TEST_F(VideoSourceTest, OddSizesLoseTheirLastColumnAndRow) {
  std::string clip = (dir_ / "odd.mkv").string();
  ffmpeg("-f lavfi -i testsrc2=size=162x98:rate=10 -vf format=rgb24,crop=161:97:0:0 -t 0.3 -c:v png '" + clip + "'");
  auto refs = reference_frames(clip, {161, 97});
  ASSERT_EQ(refs.size(), 3u);
  VideoSource src(clip, 10);
  EXPECT_EQ(src.size(), (Size{160, 96}));
  for (uint64_t i = 0; i < 3; ++i) {
    auto c = src.capture(i);
    EXPECT_TRUE(c.frame->same_pixels(refs[i], c.frame->bounds())) << "tick " << i;  // lossless RGB
  }
}

TEST_F(VideoSourceTest, FilesThatAreNoVideoAreRefusedByName) {
  std::string text = (dir_ / "notes.txt").string();
  std::ofstream(text) << "this is not a video\n";
  std::string e = runtime_error_of([&] { make_frame_source("video:" + text, {}); });
  EXPECT_NE(e.find(text), std::string::npos) << e;
  EXPECT_NE(e.find("Invalid data"), std::string::npos) << e;

  std::string audio = (dir_ / "tone.wav").string();
  ffmpeg("-f lavfi -i sine=duration=0.2 '" + audio + "'");
  e = runtime_error_of([&] { make_frame_source("video:" + audio, {}); });
  EXPECT_NE(e.find(audio), std::string::npos) << e;
  EXPECT_NE(e.find("no playable video stream"), std::string::npos) << e;
}

TEST(VideoSource, MissingFilesAreRefusedByName) {
  std::string path = (std::filesystem::temp_directory_path() / "tessera_no_such_video.mp4").string();
  std::string e = runtime_error_of([&] { make_frame_source("video:" + path, {}); });
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("No such file or directory"), std::string::npos) << e;
  EXPECT_THROW(make_frame_source("video:", {}), std::invalid_argument);
}
