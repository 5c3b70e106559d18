#pragma once
// Picture quality against a reference: PSNR over the R, G and B channels of a rectangle.
#include "core/frame.h"

namespace tessera {

// Mean squared error per channel sample over `r` (which both frames must hold).
double mean_squared_error(const Frame& a, const Frame& b, const Rect& r);
// PSNR in dB for 8-bit samples; identical pixels give +infinity.
double psnr(const Frame& a, const Frame& b, const Rect& r);

}  // namespace tessera
