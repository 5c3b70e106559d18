#include "encode/color_convert.h"

#include <algorithm>
#include <stdexcept>

extern "C" {
#include <libswscale/swscale.h>
}

namespace tessera {

namespace {

// BT.601 coefficients in 1/32768 units; rows sum to the range's span (Y) or to 0 (U, V).
struct Coeffs {
  int32_t yr, yg, yb, y_off;
  int32_t ur, ug, ub;
  int32_t vr, vg, vb;
};
constexpr Coeffs kLimited{8414, 16519, 3208, 16, -4857, -9535, 14392, 14392, -12052, -2340};
constexpr Coeffs kFull{9798, 19235, 3735, 0, -5529, -10855, 16384, 16384, -13720, -2664};

inline uint8_t clamp8(int32_t v) { return uint8_t(std::clamp(v, 0, 255)); }

// One pair of rows: Y for both, and the chroma of their 2x2 blocks into u/v (I420) or
// interleaved into u (NV12, v unused).
template <bool kNv12>
void convert_rows(const uint32_t* r0, const uint32_t* r1, int32_t w, uint8_t* y0, uint8_t* y1, uint8_t* u, uint8_t* v,
                  const Coeffs& c) {
  const int32_t y_base = (c.y_off << 15) + (1 << 14);
  for (int32_t x = 0; x < w; x += 2) {
    int32_t rs = 0, gs = 0, bs = 0;
    auto luma = [&](uint32_t p, uint8_t* dst) {
      int32_t b = int32_t(p & 0xFF), g = int32_t((p >> 8) & 0xFF), r = int32_t((p >> 16) & 0xFF);
      rs += r;
      gs += g;
      bs += b;
      *dst = clamp8((y_base + c.yr * r + c.yg * g + c.yb * b) >> 15);
    };
    luma(r0[x], y0 + x);
    luma(r0[x + 1], y0 + x + 1);
    luma(r1[x], y1 + x);
    luma(r1[x + 1], y1 + x + 1);
    // The sums are 4x the block average: shift by 2 more bits.
    const int32_t c_base = (128 << 17) + (1 << 16);
    uint8_t cu = clamp8((c_base + c.ur * rs + c.ug * gs + c.ub * bs) >> 17);
    uint8_t cv = clamp8((c_base + c.vr * rs + c.vg * gs + c.vb * bs) >> 17);
    if constexpr (kNv12) {
      u[x] = cu;
      u[x + 1] = cv;
    } else {
      u[x / 2] = cu;
      v[x / 2] = cv;
    }
  }
}

}  // namespace

void bgrx_to_yuv(const Frame& f, const Rect& r, YuvImage& out) {
  if (r.width != out.width() || r.height != out.height())
    throw std::invalid_argument("colour conversion: region and picture sizes differ");
  if (r.x < 0 || r.y < 0 || r.right() > f.width() || r.bottom() > f.height())
    throw std::invalid_argument("colour conversion: region outside the frame");
  const Coeffs& c = out.full_range() ? kFull : kLimited;
  for (int32_t y = 0; y < r.height; y += 2) {
    const uint32_t* r0 = f.row(r.y + y) + r.x;
    const uint32_t* r1 = f.row(r.y + y + 1) + r.x;
    uint8_t* y0 = out.plane(0) + size_t(y) * out.stride(0);
    uint8_t* y1 = y0 + out.stride(0);
    if (out.layout() == YuvLayout::nv12) {
      uint8_t* uv = out.plane(1) + size_t(y / 2) * out.stride(1);
      convert_rows<true>(r0, r1, r.width, y0, y1, uv, nullptr, c);
    } else {
      uint8_t* u = out.plane(1) + size_t(y / 2) * out.stride(1);
      uint8_t* v = out.plane(2) + size_t(y / 2) * out.stride(2);
      convert_rows<false>(r0, r1, r.width, y0, y1, u, v, c);
    }
  }
}

SwsConverter::~SwsConverter() { sws_freeContext(ctx_); }

void SwsConverter::convert(const Frame& f, const Rect& r, YuvImage& out) {
  if (r.width != out.width() || r.height != out.height())
    throw std::invalid_argument("colour conversion: region and picture sizes differ");
  if (!ctx_ || w_ != r.width || h_ != r.height || layout_ != out.layout() || full_ != out.full_range()) {
    sws_freeContext(ctx_);
    AVPixelFormat dst = out.layout() == YuvLayout::nv12 ? AV_PIX_FMT_NV12 : AV_PIX_FMT_YUV420P;
    ctx_ = sws_getContext(r.width, r.height, AV_PIX_FMT_BGR0, r.width, r.height, dst, SWS_BILINEAR, nullptr, nullptr,
                          nullptr);
    if (!ctx_) throw std::runtime_error("libswscale cannot convert BGR0 to YUV 4:2:0");
    const int* coefs = sws_getCoefficients(SWS_CS_ITU601);
    sws_setColorspaceDetails(ctx_, coefs, 1, coefs, out.full_range() ? 1 : 0, 0, 1 << 16, 1 << 16);
    w_ = r.width;
    h_ = r.height;
    layout_ = out.layout();
    full_ = out.full_range();
  }
  const uint8_t* src[1] = {f.data() + size_t(r.y) * f.stride() + size_t(r.x) * 4};
  const int src_stride[1] = {f.stride()};
  uint8_t* dst[3] = {out.plane(0), out.plane(1), out.planes() == 3 ? out.plane(2) : nullptr};
  const int dst_stride[3] = {out.stride(0), out.stride(1), out.planes() == 3 ? out.stride(2) : 0};
  sws_scale(ctx_, src, src_stride, 0, r.height, dst, dst_stride);
}

}  // namespace tessera
