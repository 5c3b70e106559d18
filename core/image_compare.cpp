#include "core/image_compare.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace tessera {

double mean_squared_error(const Frame& a, const Frame& b, const Rect& r) {
  if (r.empty()) return 0;
  if (r.x < 0 || r.y < 0 || r.right() > a.width() || r.bottom() > a.height() || r.right() > b.width() ||
      r.bottom() > b.height())
    throw std::invalid_argument("mean_squared_error: rectangle outside a frame");
  uint64_t sum = 0;
  for (int32_t y = r.y; y < r.bottom(); ++y) {
    const uint32_t* pa = a.row(y);
    const uint32_t* pb = b.row(y);
    for (int32_t x = r.x; x < r.right(); ++x)
      for (int shift = 0; shift < 24; shift += 8) {
        int d = int((pa[x] >> shift) & 0xFF) - int((pb[x] >> shift) & 0xFF);
        sum += uint64_t(d * d);
      }
  }
  return double(sum) / (double(r.area()) * 3.0);
}

double psnr(const Frame& a, const Frame& b, const Rect& r) {
  double mse = mean_squared_error(a, b, r);
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

}  // namespace tessera
