#pragma once
// Picture quality per region class: what a client shows against the source frame, split into
// the pixels that arrived as video (motion) and everything else (static: must be exact).
//  - PSNR over R, G and B; identical pixels give no figure (JSON null: infinite).
//  - SSIM on luma (BT.601) over 8x8 blocks on a fixed grid, averaged; a block belongs to the
//    motion class when any of its pixels is video, else to static. Identical blocks count as 1.
//    A class with no pixels in a run has no figures (null).
#include <cstdint>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/frame.h"
#include "core/region.h"

namespace tessera::bench {

struct ClassQuality {
  double sse = 0;         // squared error, summed over channel samples
  uint64_t pixels = 0;    // pixel-frames
  double ssim_sum = 0;
  uint64_t ssim_blocks = 0;
  double min_psnr = std::numeric_limits<double>::infinity();  // worst frame
  double min_ssim = 1.0;
  uint64_t frames = 0, frames_not_exact = 0;
  int max_abs_diff = 0;

  double psnr() const;  // +inf when exact
  double ssim() const { return ssim_blocks ? ssim_sum / double(ssim_blocks) : 1.0; }
  bool exact() const { return sse == 0; }
  void add_frame(const ClassQuality& frame);  // folds one frame's figures into a run's
  nlohmann::json to_json() const;
};

enum class RegionClass { static_, motion };

class FrameComparer {
 public:
  // Compares one frame: `motion` holds the pixels shown as video. Returns the figures of this
  // frame for static, motion and all pixels.
  struct Result {
    ClassQuality stat, motion, all;
  };
  Result compare(const Frame& source, const Frame& shown, const Region& motion);

 private:
  std::vector<uint8_t> mask_;
};

// PSNR in dB of a mean squared error per 8-bit sample; +inf for 0.
double psnr_of_mse(double mse);
// A JSON number, or null for +inf (identical).
nlohmann::json db_or_null(double db);

}  // namespace tessera::bench
