// Damage tracking speed, as ratios to memcmp of the same two frames measured in the same run.
//   build/tessera_bench                      all benchmarks, then the ratio table
//   build/tessera_bench --benchmark_filter=4K
// Goal (docs/architecture.md): the diff with nothing changed runs at >= 0.8x memcmp bandwidth.
#include <benchmark/benchmark.h>

#include <cstring>
#include <iostream>
#include <map>
#include <random>

#include "capture/demo_source.h"
#include "core/damage_tracker.h"
#include "core/tile_diff.h"

using namespace tessera;

namespace {

struct Res {
  const char* name;
  int32_t w, h;
};
constexpr Res k1080p{"1080p", 1920, 1080};
constexpr Res k4K{"4K", 3840, 2160};

enum class Change { None, OnePercent, All };

// Two frames that differ as asked: nothing, one pixel in 1 % of the 32-px tiles, or every pixel.
std::pair<Frame, Frame> frames(const Res& r, Change c) {
  Frame a(r.w, r.h);
  std::mt19937 rng(1);
  for (int32_t y = 0; y < r.h; ++y)
    for (int32_t x = 0; x < r.w; ++x) a.set_pixel(x, y, bgrx(uint8_t(x), uint8_t(y), uint8_t(x ^ y)));
  Frame b = a;
  if (c == Change::All) {
    for (int32_t y = 0; y < r.h; ++y)
      for (int32_t x = 0; x < r.w; ++x) b.set_pixel(x, y, a.pixel(x, y) ^ 0x010101u);
  } else if (c == Change::OnePercent) {
    TileGrid g({r.w, r.h}, 32);
    size_t n = g.count() / 100;
    for (size_t i = 0; i < n; ++i) {
      Rect t = g.rect(int32_t(rng() % uint32_t(g.cols())), int32_t(rng() % uint32_t(g.rows())));
      b.set_pixel(t.x + t.width / 2, t.y + t.height / 2, 0x00123456u);
    }
  }
  return {std::move(a), std::move(b)};
}

void set_bytes(benchmark::State& s, const Frame& f) {
  s.SetBytesProcessed(int64_t(s.iterations()) * int64_t(f.width()) * f.height() * 4);
}

void BM_memcmp(benchmark::State& s, Res r) {
  auto [a, b] = frames(r, Change::None);
  for (auto _ : s) benchmark::DoNotOptimize(std::memcmp(a.data(), b.data(), a.byte_size()));
  set_bytes(s, a);
}

void BM_diff(benchmark::State& s, Res r, Change c, int tile) {
  auto [a, b] = frames(r, c);
  TileGrid g(a.size(), tile);
  std::vector<uint8_t> marked(g.count());
  for (auto _ : s) {
    std::fill(marked.begin(), marked.end(), 0);
    benchmark::DoNotOptimize(diff_tiles(a, b, g, a.bounds(), marked));
  }
  set_bytes(s, a);
}

// The whole tracker over `frames` in a loop, one every 33 ms of its clock.
void run_tracker(benchmark::State& s, const std::vector<FramePtr>& frames) {
  DamageTracker t;
  auto now = std::chrono::steady_clock::now();
  size_t i = 0;
  for (auto _ : s) {
    auto c = t.update(frames[i++ % frames.size()], nullptr, now);
    benchmark::DoNotOptimize(c);
    now += std::chrono::milliseconds(33);
  }
  set_bytes(s, *frames[0]);
}

// The whole tracker (diff, scroll search, classification) on the demo desktop, frame to frame.
void BM_tracker_demo(benchmark::State& s, Res r) {
  DemoSource d({r.w, r.h}, 30);
  std::vector<FramePtr> f;
  for (uint64_t i = 0; i < 16; ++i) f.push_back(std::make_shared<Frame>(d.render(i)));
  run_tracker(s, f);
}

// A terminal-like page: 8x16 cells of two-colour "glyphs" (some lines blank, short lines), as
// a listing scrolling in an xterm shows.
Frame text_page(int w, int h, uint32_t seed) {
  Frame f(w, h);
  f.fill(f.bounds(), 0x00FFFFFFu);
  std::mt19937 rng(seed);
  for (int row = 0; row * 16 < h; ++row) {
    if (rng() % 6 == 0) continue;  // a blank line
    int len = int(rng() % uint32_t(w / 8));
    for (int col = 0; col < len; ++col) {
      uint32_t glyph = uint32_t(rng());
      for (int y = 2; y < 14 && row * 16 + y < h; ++y)
        for (int x = 1; x < 7; ++x)
          if (glyph >> ((y * 6 + x) % 32) & 1) f.set_pixel(col * 8 + x, row * 16 + y, 0);
    }
  }
  return f;
}

// The tracker on a listing that scrolls one text line (16 rows) a frame: the row hashing and
// voting of the scroll search, then the moves found.
void BM_tracker_scroll(benchmark::State& s, Res r) {
  Frame tall = text_page(r.w, r.h + 16 * 64, 7);
  std::vector<FramePtr> f;
  for (int i = 0; i < 64; ++i) {
    auto fr = std::make_shared<Frame>(r.w, r.h);
    for (int y = 0; y < r.h; ++y) std::memcpy(fr->row(y), tall.row(y + 16 * i), size_t(r.w) * 4);
    f.push_back(fr);
  }
  run_tracker(s, f);
}

// Collects bytes/s per benchmark so that the ratios can be printed after the run.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      auto it = r.counters.find("bytes_per_second");
      if (it != r.counters.end()) rates[r.benchmark_name()] = it->second.value;
    }
  }
  std::map<std::string, double> rates;
};

}  // namespace

BENCHMARK_CAPTURE(BM_memcmp, 1080p, k1080p);
BENCHMARK_CAPTURE(BM_memcmp, 4K, k4K);
BENCHMARK_CAPTURE(BM_diff, 1080p_none_t32, k1080p, Change::None, 32);
BENCHMARK_CAPTURE(BM_diff, 1080p_1pct_t32, k1080p, Change::OnePercent, 32);
BENCHMARK_CAPTURE(BM_diff, 1080p_all_t32, k1080p, Change::All, 32);
BENCHMARK_CAPTURE(BM_diff, 4K_none_t32, k4K, Change::None, 32);
BENCHMARK_CAPTURE(BM_diff, 4K_1pct_t32, k4K, Change::OnePercent, 32);
BENCHMARK_CAPTURE(BM_diff, 4K_all_t32, k4K, Change::All, 32);
BENCHMARK_CAPTURE(BM_diff, 1080p_1pct_t16, k1080p, Change::OnePercent, 16);
BENCHMARK_CAPTURE(BM_diff, 1080p_1pct_t64, k1080p, Change::OnePercent, 64);
BENCHMARK_CAPTURE(BM_diff, 1080p_all_t16, k1080p, Change::All, 16);
BENCHMARK_CAPTURE(BM_diff, 1080p_all_t64, k1080p, Change::All, 64);
BENCHMARK_CAPTURE(BM_tracker_demo, 1080p, k1080p);
BENCHMARK_CAPTURE(BM_tracker_scroll, 1080p, k1080p);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::cout << "\nratio to memcmp of the same frames (bandwidth; 1.00 = as fast as memcmp):\n";
  for (auto& [name, rate] : reporter.rates) {
    if (name.rfind("BM_memcmp", 0) == 0) continue;
    std::string res = name.find("4K") != std::string::npos ? "4K" : "1080p";
    auto base = reporter.rates.find("BM_memcmp/" + res);
    if (base == reporter.rates.end() || base->second <= 0) continue;
    std::printf("  %-32s %5.2fx\n", name.c_str(), rate / base->second);
  }
  benchmark::Shutdown();
  return 0;
}
