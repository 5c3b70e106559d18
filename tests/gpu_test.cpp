// The GPU path (gpu/): device selection over made-up device lists, and on a real Vulkan device
// (lavapipe here, so CI needs no GPU) the compute shaders against the CPU code they replace:
// the same changed tiles, the same classes, the same tracker output, the same YUV bytes.
#include <gtest/gtest.h>

#include <random>

#include "capture/demo_source.h"
#include "core/damage_tracker.h"
#include "core/region_classifier.h"
#include "core/tile_diff.h"
#include "encode/color_convert.h"
#include "encode/hw_frame_path.h"
#include "gpu/device_select.h"
#include "gpu/gpu_tile_accelerator.h"
#include "tests/log_capture.h"

using namespace tessera;
using namespace tessera::gpu;
using Clock = std::chrono::steady_clock;

namespace {

// 32-bit pixels straight from the generator.
struct Rng {
  explicit Rng(uint32_t seed) : e(seed) {}
  uint32_t operator()() { return uint32_t(e()); }
  std::mt19937 e;
};

DeviceInfo dev(std::string name, DeviceType t, uint32_t api = make_api_version(1, 3, 0), bool compute = true) {
  return {std::move(name), t, api, compute};
}

GpuChoice choice(const char* s) { return *parse_gpu_choice(s); }

}  // namespace

TEST(GpuDeviceSelect, ParsesTheOption) {
  EXPECT_EQ(parse_gpu_choice("auto")->mode, GpuMode::automatic);
  EXPECT_EQ(parse_gpu_choice("off")->mode, GpuMode::off);
  EXPECT_EQ(parse_gpu_choice("software")->mode, GpuMode::software);
  auto two = parse_gpu_choice("2");
  ASSERT_TRUE(two);
  EXPECT_EQ(two->mode, GpuMode::index);
  EXPECT_EQ(two->index, 2u);
  EXPECT_EQ(to_string(*two), "2");
  for (const char* bad : {"", "-1", "gpu", "1x", "99999999999"}) EXPECT_FALSE(parse_gpu_choice(bad)) << bad;
}

TEST(GpuDeviceSelect, AutoPrefersDiscreteThenIntegratedAndNeverSoftware) {
  std::vector<DeviceInfo> all{dev("llvmpipe", DeviceType::cpu), dev("Intel UHD", DeviceType::integrated),
                              dev("RTX 4090", DeviceType::discrete)};
  auto s = select_device(all, choice("auto"));
  ASSERT_TRUE(s.device);
  EXPECT_EQ(*s.device, 2u);
  EXPECT_NE(s.reason.find("RTX 4090"), std::string::npos);

  all.pop_back();
  s = select_device(all, choice("auto"));
  ASSERT_TRUE(s.device);
  EXPECT_EQ(*s.device, 1u);

  all.pop_back();  // only lavapipe left: auto stays on the CPU and says how to use it anyway
  s = select_device(all, choice("auto"));
  EXPECT_FALSE(s.device);
  EXPECT_NE(s.reason.find("no usable hardware Vulkan device"), std::string::npos) << s.reason;
  EXPECT_NE(s.reason.find("--gpu software"), std::string::npos) << s.reason;

  s = select_device({}, choice("auto"));
  EXPECT_FALSE(s.device);
  EXPECT_EQ(s.reason, "no Vulkan device found");
}

TEST(GpuDeviceSelect, SkipsDevicesThatCannotRunTheShaders) {
  std::vector<DeviceInfo> all{dev("old", DeviceType::discrete, make_api_version(1, 0, 61)),
                              dev("nocompute", DeviceType::discrete, make_api_version(1, 3, 0), false),
                              dev("igpu", DeviceType::integrated)};
  auto s = select_device(all, choice("auto"));
  ASSERT_TRUE(s.device);
  EXPECT_EQ(*s.device, 2u);
  all.pop_back();
  s = select_device(all, choice("auto"));
  EXPECT_FALSE(s.device);
  EXPECT_NE(s.reason.find("'old' offers Vulkan 1.0.61, the GPU path needs 1.1.0"), std::string::npos) << s.reason;
  EXPECT_NE(s.reason.find("'nocompute' has no compute queue"), std::string::npos) << s.reason;
}

TEST(GpuDeviceSelect, SoftwareIndexAndOff) {
  std::vector<DeviceInfo> all{dev("RTX", DeviceType::discrete), dev("llvmpipe", DeviceType::cpu)};
  auto s = select_device(all, choice("software"));
  ASSERT_TRUE(s.device);
  EXPECT_EQ(*s.device, 1u);
  s = select_device({dev("RTX", DeviceType::discrete)}, choice("software"));
  EXPECT_FALSE(s.device);
  EXPECT_NE(s.reason.find("lavapipe"), std::string::npos);

  s = select_device(all, choice("1"));
  ASSERT_TRUE(s.device);
  EXPECT_EQ(*s.device, 1u);  // an index may name a software device
  s = select_device(all, choice("5"));
  EXPECT_FALSE(s.device);
  EXPECT_EQ(s.reason, "no Vulkan device 5 (2 found)");
  s = select_device({dev("x", DeviceType::discrete, make_api_version(1, 3, 0), false)}, choice("0"));
  EXPECT_FALSE(s.device);

  s = select_device(all, choice("off"));
  EXPECT_FALSE(s.device);
  EXPECT_EQ(s.reason, "GPU path off (--gpu off)");
}

namespace {

// Lavapipe (or whatever software device exists); the suite skips, saying why, without one.
class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string reason;
    ctx_ = VulkanContext::create(GpuChoice{GpuMode::software, 0}, reason);
    if (!ctx_) GTEST_SKIP() << "no software Vulkan device: " << reason;
  }
  std::shared_ptr<VulkanContext> ctx_;
};

Frame noise(Size s, Rng& rng) {
  Frame f(s.width, s.height);
  for (int32_t y = 0; y < s.height; ++y)
    for (int32_t x = 0; x < s.width; ++x) f.set_pixel(x, y, rng());
  return f;
}

std::vector<uint8_t> cpu_diff(const Frame& a, const Frame& b, int32_t tile) {
  TileGrid g(a.size(), tile);
  std::vector<uint8_t> m(g.count(), 0);
  diff_tiles(a, b, g, a.bounds(), m);
  return m;
}

Clock::time_point at(uint64_t tick, double fps = 30) {
  return Clock::time_point{} + std::chrono::nanoseconds(int64_t(double(tick) * 1e9 / fps));
}

}  // namespace

TEST_F(GpuTest, DiffFindsExactlyTheTilesTheCpuFinds) {
  Rng rng(7);
  for (Size s : {Size{333, 197}, Size{256, 128}, Size{1, 1}, Size{65, 31}})
    for (int32_t tile : {16, 32, 64}) {
      SCOPED_TRACE(testing::Message() << s.width << "x" << s.height << " tile " << tile);
      FramePipeline p(ctx_);
      p.reset(s, tile, {});
      Frame prev = noise(s, rng);
      p.begin();
      p.record_upload(prev);
      p.submit();
      for (int round = 0; round < 6; ++round) {
        Frame cur = prev;
        // Sparse changes (first and last pixel of the frame included), then dense noise.
        if (round < 4) {
          auto xd = [&](Rng& g) { return int32_t(g() % uint32_t(s.width)); };
          auto yd = [&](Rng& g) { return int32_t(g() % uint32_t(s.height)); };
          for (int k = 0; k < round * 3; ++k) cur.set_pixel(xd(rng), yd(rng), rng());
          if (round == 1) cur.set_pixel(s.width - 1, s.height - 1, ~cur.pixel(s.width - 1, s.height - 1));
          if (round == 2) cur.set_pixel(0, 0, cur.pixel(0, 0) ^ 0xFF000000u);  // only the X byte
        } else {
          cur = noise(s, rng);
        }
        p.begin();
        p.record_upload(cur);
        p.record_diff();
        p.submit();
        EXPECT_EQ(p.changed(), cpu_diff(prev, cur, tile)) << "round " << round;
        prev = std::move(cur);
      }
    }
}

TEST_F(GpuTest, EdgeCountsTellTextFromFlat) {
  Size s{96, 32};
  FramePipeline p(ctx_);
  p.reset(s, 32, {});
  Frame a(s.width, s.height);
  a.fill(a.bounds(), 0x00808080);
  p.begin();
  p.record_upload(a);
  p.submit();
  Frame b = a;
  b.fill({0, 0, 32, 32}, 0x00202020);  // flat: no edges inside
  for (int32_t y = 0; y < 32; ++y)     // stripes: an edge at every column but the last
    for (int32_t x = 32; x < 64; ++x) b.set_pixel(x, y, x % 2 ? 0x00FFFFFF : 0x00000000);
  p.begin();
  p.record_upload(b);
  p.record_diff();
  p.submit();
  EXPECT_EQ(p.changed(), (std::vector<uint8_t>{1, 1, 0}));
  // Tile 0's right neighbour across its border (x 31 -> 32) is black against dark grey: no edge.
  EXPECT_EQ(p.edges()[0], 0u);
  // 31 stripe steps per row inside, plus the step from the last stripe (white) into grey (0x80).
  EXPECT_EQ(p.edges()[1], 32u * 32u);
  EXPECT_EQ(p.edges()[2], 0u);  // unchanged tiles report none
}

TEST_F(GpuTest, ClassifierMatchesRegionClassifier) {
  Rng rng(3);
  for (ClassifierConfig cfg : {ClassifierConfig{}, ClassifierConfig{2, 16, std::chrono::milliseconds(50), {}},
                               ClassifierConfig{16, 16, std::chrono::milliseconds(1000), std::chrono::nanoseconds(0)}}) {
    const Size s{300, 200};
    const int32_t tile = 16;
    TileGrid g(s, tile);
    RegionClassifier cpu(cfg);
    cpu.reset(g.count());
    FramePipeline p(ctx_);
    p.reset(s, tile, cfg);
    // Start far from zero so the 64-bit time splits into both halves.
    Clock::time_point t = Clock::time_point{} + std::chrono::hours(50);
    std::vector<uint8_t> changed(g.count());
    for (int frame = 0; frame < 200; ++frame) {
      // Phases: busy (video-like), quiet, sparse flicker; per tile a different probability.
      int phase = (frame / 25) % 3;
      for (size_t i = 0; i < changed.size(); ++i) {
        int pct = phase == 0 ? int(50 + i % 50) : phase == 1 ? 0 : int(i % 20);
        changed[i] = int(rng() % 100) < pct;
      }
      t += std::chrono::nanoseconds(16'000'000 + rng() % 40'000'000);  // uneven frame times
      cpu.update(changed, t);
      p.begin();
      p.record_classify(t, &changed);
      p.submit();
      ASSERT_EQ(p.motion(), cpu.motion()) << "frame " << frame;
    }
  }
}

TEST_F(GpuTest, DiffThenClassifyInOneSubmission) {
  Rng rng(11);
  const Size s{200, 120};
  TileGrid g(s, 32);
  RegionClassifier cpu{ClassifierConfig{}};
  cpu.reset(g.count());
  FramePipeline p(ctx_);
  p.reset(s, 32, {});
  Frame prev = noise(s, rng);
  p.begin();
  p.record_upload(prev);
  p.submit();
  for (uint64_t tick = 1; tick < 20; ++tick) {
    Frame cur = prev;
    cur.fill({0, 0, 100, 60}, rng());  // a "video" corner
    p.begin();
    p.record_upload(cur);
    p.record_diff();
    p.record_classify(at(tick), nullptr);
    p.record_convert({2, 2, 100, 60}, YuvFormat::nv12, false, false);
    p.submit();
    std::vector<uint8_t> changed = cpu_diff(prev, cur, 32);
    cpu.update(changed, at(tick));
    EXPECT_EQ(p.changed(), changed);
    EXPECT_EQ(p.motion(), cpu.motion()) << tick;
    if (ctx_->has_timestamps()) {
      EXPECT_GT(p.times().gpu_total(), 0.0);
    }
    prev = std::move(cur);
  }
}

namespace {

// The tracker with and without the GPU over the same frames gives the same answers.
void expect_same_tracking(const std::shared_ptr<VulkanContext>& ctx, Size size, int32_t tile, bool hints,
                          uint64_t ticks, uint64_t min_accelerated) {
  SCOPED_TRACE(testing::Message() << size.width << "x" << size.height << " tile " << tile << (hints ? " hints" : ""));
  DemoSource demo(size, 30);
  DamageTrackerConfig cfg;
  cfg.tile_size = tile;
  DamageTracker cpu(cfg);
  auto accel = std::make_shared<GpuTileAccelerator>(ctx);
  cfg.accelerator = accel;
  DamageTracker gpu(cfg);
  // 3 s in: the video window is playing, so tiles enter motion; ticks span its 2 s pause too.
  for (uint64_t i = 60; i < 60 + ticks; ++i) {
    CapturedFrame c = demo.capture(i);
    const Region* h = hints ? &c.damage : nullptr;
    FrameChange a = cpu.update(c.frame, h, at(i));
    FrameChange b = gpu.update(c.frame, h, at(i));
    ASSERT_EQ(gpu.changed_tiles(), cpu.changed_tiles()) << "tick " << i;
    ASSERT_EQ(gpu.motion_tiles(), cpu.motion_tiles()) << "tick " << i;
    EXPECT_TRUE(a.damage == b.damage) << "tick " << i;
    EXPECT_TRUE(a.motion == b.motion) << "tick " << i;
    EXPECT_TRUE(a.refresh == b.refresh) << "tick " << i;
    EXPECT_TRUE(a.motion_area == b.motion_area) << "tick " << i;
    ASSERT_EQ(a.moves.size(), b.moves.size()) << "tick " << i;
  }
  EXPECT_TRUE(gpu.accelerated());
  EXPECT_GE(gpu.accelerated_frames(), min_accelerated);
}

}  // namespace

TEST_F(GpuTest, TrackerGivesTheCpuAnswersOnTheDemoDesktop) {
  // Without hints every frame is a full scan: all but the first run on the GPU.
  for (int32_t tile : {16, 32, 64}) expect_same_tracking(ctx_, {640, 400}, tile, false, 60, 59);
  expect_same_tracking(ctx_, {641, 397}, 32, false, 60, 59);  // not a multiple of the tile
  bool motion_seen = false;
  {
    DemoSource demo({640, 400}, 30);
    DamageTrackerConfig cfg;
    cfg.accelerator = std::make_shared<GpuTileAccelerator>(ctx_);
    DamageTracker t(cfg);
    for (uint64_t i = 60; i < 120; ++i) t.update(demo.capture(i).frame, nullptr, at(i));
    for (uint8_t m : t.motion_tiles()) motion_seen |= m != 0;
  }
  EXPECT_TRUE(motion_seen) << "the demo's video should have become motion";
}

TEST_F(GpuTest, TrackerWithHintsFallsBackToTheCpuAndStillAgrees) {
  // Hinted frames are diffed on the CPU (the reference is not the previous frame); the
  // classifier still runs on the GPU.
  expect_same_tracking(ctx_, {640, 400}, 32, true, 70, 0);
}

TEST_F(GpuTest, TrackerFollowsSizeChanges) {
  DamageTrackerConfig cfg;
  DamageTracker cpu(cfg);
  cfg.accelerator = std::make_shared<GpuTileAccelerator>(ctx_);
  DamageTracker gpu(cfg);
  Rng rng(5);
  uint64_t tick = 0;
  for (Size s : {Size{320, 200}, Size{199, 101}, Size{320, 200}})
    for (int k = 0; k < 8; ++k, ++tick) {
      auto f = std::make_shared<Frame>(noise(s, rng));
      if (k % 3 == 0) f = std::make_shared<Frame>(s.width, s.height);  // some unchanged areas
      cpu.update(f, nullptr, at(tick));
      gpu.update(f, nullptr, at(tick));
      ASSERT_EQ(gpu.changed_tiles(), cpu.changed_tiles()) << tick;
      ASSERT_EQ(gpu.motion_tiles(), cpu.motion_tiles()) << tick;
    }
  EXPECT_EQ(gpu.accelerated_frames(), 3u * 7u);
}

namespace {

// An accelerator that fails: the tracker must log why and carry on, exactly, on the CPU.
class FailingAccelerator : public TileDiffAccelerator {
 public:
  std::string name() const override { return "broken test device"; }
  void reset(const TileGrid&, const ClassifierConfig&) override {}
  void set_reference(const Frame&) override {}
  void diff(const Frame&, std::vector<uint8_t>& changed) override {
    changed.assign(changed.size(), 1);  // garbage, then the failure
    throw std::runtime_error("VK_ERROR_DEVICE_LOST");
  }
  void classify(const std::vector<uint8_t>&, Clock::time_point, std::vector<uint8_t>&) override {}
};

}  // namespace

TEST(GpuFallback, TrackerDropsAFailingAcceleratorAndStaysExact) {
  test::LogCapture log;
  DemoSource demo({320, 200}, 30);
  DamageTrackerConfig cfg;
  DamageTracker cpu(cfg);
  cfg.accelerator = std::make_shared<FailingAccelerator>();
  DamageTracker t(cfg);
  for (uint64_t i = 0; i < 10; ++i) {
    auto c = demo.capture(i);
    cpu.update(c.frame, nullptr, at(i));
    t.update(c.frame, nullptr, at(i));
    ASSERT_EQ(t.changed_tiles(), cpu.changed_tiles()) << i;
  }
  EXPECT_FALSE(t.accelerated());
  EXPECT_TRUE(log.contains("tile diff failed on broken test device (VK_ERROR_DEVICE_LOST)")) << log.all();
}

TEST_F(GpuTest, ConversionMatchesBgrxToYuv) {
  Rng rng(9);
  const Size s{203, 117};
  Frame f = noise(s, rng);
  f.fill({10, 10, 40, 30}, 0x00FFFFFF);  // saturated values exercise the clamps
  f.fill({60, 10, 40, 30}, 0x00000000);
  FramePipeline p(ctx_);
  p.reset(s, 32, {});
  p.begin();
  p.record_upload(f);
  p.submit();
  for (YuvLayout layout : {YuvLayout::nv12, YuvLayout::i420})
    for (bool full : {false, true})
      for (bool bt709 : {false, true})
        for (Rect r : {Rect{0, 0, 202, 116}, Rect{1, 3, 100, 50}, Rect{7, 5, 2, 2}, Rect{33, 17, 170, 100}}) {
          SCOPED_TRACE(testing::Message() << (layout == YuvLayout::nv12 ? "nv12" : "i420") << (full ? " full" : "")
                                          << (bt709 ? " bt709" : "") << " rect " << r.x << "," << r.y << " "
                                          << r.width << "x" << r.height);
          YuvImage want(layout, r.width, r.height, full), got(layout, r.width, r.height, full);
          want.set_bt709(bt709);
          bgrx_to_yuv(f, r, want);
          p.begin();
          p.record_convert(r, layout == YuvLayout::nv12 ? YuvFormat::nv12 : YuvFormat::i420, full, bt709);
          p.submit();
          uint8_t* planes[3] = {got.plane(0), got.plane(1), got.planes() == 3 ? got.plane(2) : nullptr};
          int32_t strides[3] = {got.stride(0), got.stride(1), got.planes() == 3 ? got.stride(2) : 0};
          p.read_yuv(planes, strides);
          // Same integer math: identical bytes (the issue allows +-1; we get 0).
          int worst = 0;
          for (int pl = 0; pl < want.planes(); ++pl) {
            int32_t pw = pl == 0 || layout == YuvLayout::nv12 ? r.width : r.width / 2;
            int32_t ph = pl == 0 ? r.height : r.height / 2;
            for (int32_t y = 0; y < ph; ++y)
              for (int32_t x = 0; x < pw; ++x) {
                int d = std::abs(int(want.plane(pl)[size_t(y) * size_t(want.stride(pl)) + size_t(x)]) -
                                 int(got.plane(pl)[size_t(y) * size_t(got.stride(pl)) + size_t(x)]));
                worst = std::max(worst, d);
              }
          }
          EXPECT_EQ(worst, 0);
        }
  p.begin();
  EXPECT_THROW(p.record_convert({1, 1, 3, 2}, YuvFormat::nv12, false, false), GpuError);  // odd width
  EXPECT_THROW(p.record_convert({200, 0, 4, 2}, YuvFormat::nv12, false, false), GpuError);  // outside
}

TEST(GpuContext, ListsDevicesOrSaysWhyNot) {
  try {
    auto devs = list_devices();
    for (const auto& d : devs) {
      EXPECT_FALSE(d.info.name.empty());
      EXPECT_FALSE(d.driver.empty());
    }
  } catch (const GpuError& e) {
    GTEST_SKIP() << "no Vulkan loader or driver: " << e.what();
  }
}

TEST(HwFramePath, ChoosesBySharedHardware) {
  GpuForFrames nvidia{true, false, 0x10de, 0, "/dev/dri/renderD128"};
  GpuForFrames amd{true, false, 0x1002, 0, "/dev/dri/renderD128"};
  GpuForFrames intel{true, false, 0x8086, 0, "/dev/dri/renderD129"};
  GpuForFrames lavapipe{true, true, 0x10005, 0, ""};
  EXPECT_EQ(choose_hw_frame_path(EncoderKind::nvenc, nvidia).path, HwFramePath::cuda_from_vulkan);
  EXPECT_EQ(choose_hw_frame_path(EncoderKind::vaapi, amd).path, HwFramePath::drm_prime);
  EXPECT_EQ(choose_hw_frame_path(EncoderKind::qsv, intel).path, HwFramePath::drm_prime);
  EXPECT_NE(choose_hw_frame_path(EncoderKind::qsv, intel).reason.find("renderD129"), std::string::npos);
  // Everything else downloads, and says why.
  auto p = choose_hw_frame_path(EncoderKind::nvenc, amd);
  EXPECT_EQ(p.path, HwFramePath::download);
  EXPECT_EQ(p.reason, "NVENC runs on an NVIDIA GPU, the frames are on AMD");
  EXPECT_EQ(choose_hw_frame_path(EncoderKind::vaapi, nvidia).path, HwFramePath::download);
  EXPECT_EQ(choose_hw_frame_path(EncoderKind::qsv, amd).path, HwFramePath::download);
  EXPECT_EQ(choose_hw_frame_path(EncoderKind::software, nvidia).path, HwFramePath::download);
  EXPECT_EQ(choose_hw_frame_path(EncoderKind::nvenc, lavapipe).path, HwFramePath::download);
  EXPECT_EQ(choose_hw_frame_path(EncoderKind::vaapi, GpuForFrames{}).reason,
            "no GPU in use: frames are converted on the CPU");
}

TEST(HwFramePath, FallsBackToDownloadWhenTheSharedPathCannotBeBuilt) {
  // This machine has no NVIDIA driver (no libcuda) and no VAAPI: both shared paths must fail
  // cleanly into download, with FFmpeg's reason logged.
  test::LogCapture log;
  GpuForFrames nvidia{true, false, 0x10de, 0, "/dev/dri/renderD128"};
  auto plan = choose_hw_frame_path(EncoderKind::nvenc, nvidia);
  HwFrameContext c = HwFrameContext::open(plan, nvidia, 1280, 720);
  if (c.path() != HwFramePath::download) GTEST_SKIP() << "this machine can share Vulkan frames with CUDA";
  EXPECT_EQ(c.frames(), nullptr);
  EXPECT_NE(c.reason().find("cuda-from-vulkan failed"), std::string::npos) << c.reason();
  EXPECT_TRUE(log.contains("hw frames: cuda-from-vulkan failed")) << log.all();

  GpuForFrames intel{true, false, 0x8086, 0, "/dev/dri/renderD-none"};
  HwFrameContext v = HwFrameContext::open(choose_hw_frame_path(EncoderKind::vaapi, intel), intel, 1280, 720);
  EXPECT_EQ(v.path(), HwFramePath::download);
  EXPECT_NE(v.reason().find("DRM device /dev/dri/renderD-none"), std::string::npos) << v.reason();
}
