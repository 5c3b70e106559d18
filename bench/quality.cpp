#include "bench/quality.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace tessera::bench {

namespace {

constexpr int kBlock = 8;
constexpr double kC1 = (0.01 * 255) * (0.01 * 255);
constexpr double kC2 = (0.03 * 255) * (0.03 * 255);

double luma(uint32_t px) {
  return 0.299 * double((px >> 16) & 255) + 0.587 * double((px >> 8) & 255) + 0.114 * double(px & 255);
}

}  // namespace

double psnr_of_mse(double mse) {
  if (mse <= 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

nlohmann::json db_or_null(double db) {
  if (!std::isfinite(db)) return nullptr;
  return std::round(db * 1000.0) / 1000.0;
}

double ClassQuality::psnr() const { return pixels ? psnr_of_mse(sse / (3.0 * double(pixels))) : psnr_of_mse(0); }

void ClassQuality::add_frame(const ClassQuality& f) {
  if (f.pixels == 0) return;
  sse += f.sse;
  pixels += f.pixels;
  ssim_sum += f.ssim_sum;
  ssim_blocks += f.ssim_blocks;
  min_psnr = std::min(min_psnr, f.psnr());
  min_ssim = std::min(min_ssim, f.ssim());
  ++frames;
  frames_not_exact += f.sse > 0;
  max_abs_diff = std::max(max_abs_diff, f.max_abs_diff);
}

nlohmann::json ClassQuality::to_json() const {
  auto round6 = [](double v) { return std::round(v * 1e6) / 1e6; };
  return {{"psnr_db", db_or_null(psnr())},
          {"min_psnr_db", frames ? db_or_null(min_psnr) : nlohmann::json(nullptr)},
          {"ssim", pixels ? nlohmann::json(round6(ssim())) : nlohmann::json(nullptr)},
          {"min_ssim", pixels ? nlohmann::json(round6(min_ssim)) : nlohmann::json(nullptr)},
          {"exact", exact()},
          {"frames", frames},
          {"frames_not_exact", frames_not_exact},
          {"max_abs_diff", max_abs_diff},
          {"pixels", pixels}};
}

FrameComparer::Result FrameComparer::compare(const Frame& source, const Frame& shown, const Region& motion) {
  Result out;
  const int32_t w = source.width(), h = source.height();
  mask_.assign(size_t(w) * size_t(h), 0);
  for (const Rect& r : motion.rects()) {
    Rect c = r.intersect(source.bounds());
    for (int32_t y = c.y; y < c.bottom(); ++y) std::fill_n(&mask_[size_t(y) * size_t(w) + size_t(c.x)], c.width, 1);
  }
  ClassQuality* cls[2] = {&out.stat, &out.motion};
  for (int32_t by = 0; by < h; by += kBlock)
    for (int32_t bx = 0; bx < w; bx += kBlock) {
      const int32_t bw = std::min(kBlock, w - bx), bh = std::min(kBlock, h - by);
      // Pixel counts and error per class, pixel by pixel (a block may straddle a boundary).
      bool same = true;
      double sum_a = 0, sum_b = 0, sum_aa = 0, sum_bb = 0, sum_ab = 0;
      for (int32_t y = by; y < by + bh; ++y) {
        const uint32_t* a = source.row(y);
        const uint32_t* b = shown.row(y);
        const uint8_t* m = &mask_[size_t(y) * size_t(w)];
        for (int32_t x = bx; x < bx + bw; ++x) {
          ClassQuality& q = *cls[m[x]];
          ++q.pixels;
          uint32_t pa = a[x] & 0xFFFFFF, pb = b[x] & 0xFFFFFF;
          if (pa != pb) {
            same = false;
            for (int sh = 0; sh < 24; sh += 8) {
              int d = int((pa >> sh) & 255) - int((pb >> sh) & 255);
              q.sse += double(d * d);
              q.max_abs_diff = std::max(q.max_abs_diff, std::abs(d));
            }
          }
          double la = luma(pa), lb = luma(pb);
          sum_a += la, sum_b += lb, sum_aa += la * la, sum_bb += lb * lb, sum_ab += la * lb;
        }
      }
      double s = 1.0;
      if (!same) {
        double n = double(bw * bh);
        double ma = sum_a / n, mb = sum_b / n;
        double va = sum_aa / n - ma * ma, vb = sum_bb / n - mb * mb, cov = sum_ab / n - ma * mb;
        s = ((2 * ma * mb + kC1) * (2 * cov + kC2)) / ((ma * ma + mb * mb + kC1) * (va + vb + kC2));
      }
      // A block with any video pixel counts for motion: static blocks are wholly static.
      uint8_t any = 0;
      for (int32_t y = by; y < by + bh && !any; ++y)
        for (int32_t x = bx; x < bx + bw; ++x) any |= mask_[size_t(y) * size_t(w) + size_t(x)];
      ClassQuality& q = *cls[any];
      q.ssim_sum += s;
      ++q.ssim_blocks;
    }
  for (ClassQuality* q : cls) {
    out.all.pixels += q->pixels;
    out.all.sse += q->sse;
    out.all.ssim_sum += q->ssim_sum;
    out.all.ssim_blocks += q->ssim_blocks;
    out.all.max_abs_diff = std::max(out.all.max_abs_diff, q->max_abs_diff);
  }
  return out;
}

}  // namespace tessera::bench
