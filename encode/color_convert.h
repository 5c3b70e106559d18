#pragma once
// BGRX -> YUV 4:2:0, once per motion region and frame. Two implementations: our own integer
// BT.601 converter (the default; see docs/tuning.md for the measurement that chose it) and
// libswscale's, kept for comparison in bench/ and as a cross-check in the tests.
#include <memory>

#include "core/frame.h"
#include "encode/yuv_image.h"

struct SwsContext;

namespace tessera {

// Converts `r` of `f` into `out`, which must already have r's size (even width and height)
// and the wanted layout and range. Chroma is the average of each 2x2 block.
void bgrx_to_yuv(const Frame& f, const Rect& r, YuvImage& out);

// The same conversion through libswscale (BT.601, exact rounding differs by at most 1).
class SwsConverter {
 public:
  SwsConverter() = default;
  ~SwsConverter();
  SwsConverter(const SwsConverter&) = delete;
  SwsConverter& operator=(const SwsConverter&) = delete;
  void convert(const Frame& f, const Rect& r, YuvImage& out);

 private:
  SwsContext* ctx_ = nullptr;
  int32_t w_ = 0, h_ = 0;
  YuvLayout layout_ = YuvLayout::i420;
  bool full_ = false;
  bool bt709_ = false;
};

}  // namespace tessera
