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
constexpr Coeffs kLimited709{5984, 20127, 2032, 16, -3298, -11094, 14392, 14392, -13072, -1320};
constexpr Coeffs kFull709{6966, 23436, 2366, 0, -3755, -12629, 16384, 16384, -14881, -1503};

inline uint8_t clamp8(int32_t v) { return uint8_t(std::clamp(v, 0, 255)); }

// Luma of one row: a plain loop the compiler vectorises.
void luma_row(const uint32_t* src, int32_t w, uint8_t* dst, const Coeffs& c) {
  const int32_t base = (c.y_off << 15) + (1 << 14);
  for (int32_t x = 0; x < w; ++x) {
    uint32_t p = src[x];
    int32_t b = int32_t(p & 0xFF), g = int32_t((p >> 8) & 0xFF), r = int32_t((p >> 16) & 0xFF);
    dst[x] = uint8_t((base + c.yr * r + c.yg * g + c.yb * b) >> 15);  // in range for both ranges
  }
}

// Chroma of one pair of rows: each 2x2 block's sums (4x the average, hence 2 more bits of
// shift) into u/v (I420) or interleaved into u (NV12).
template <bool kNv12>
void chroma_rows(const uint32_t* r0, const uint32_t* r1, int32_t w, uint8_t* u, uint8_t* v, const Coeffs& c) {
  const int32_t base = (128 << 17) + (1 << 16);
  for (int32_t x = 0; x < w / 2; ++x) {
    uint32_t a = r0[2 * x], b2 = r0[2 * x + 1], d = r1[2 * x], e = r1[2 * x + 1];
    int32_t bs = int32_t((a & 0xFF) + (b2 & 0xFF) + (d & 0xFF) + (e & 0xFF));
    int32_t gs = int32_t(((a >> 8) & 0xFF) + ((b2 >> 8) & 0xFF) + ((d >> 8) & 0xFF) + ((e >> 8) & 0xFF));
    int32_t rs = int32_t(((a >> 16) & 0xFF) + ((b2 >> 16) & 0xFF) + ((d >> 16) & 0xFF) + ((e >> 16) & 0xFF));
    uint8_t cu = clamp8((base + c.ur * rs + c.ug * gs + c.ub * bs) >> 17);
    uint8_t cv = clamp8((base + c.vr * rs + c.vg * gs + c.vb * bs) >> 17);
    if constexpr (kNv12) {
      u[2 * x] = cu;
      u[2 * x + 1] = cv;
    } else {
      u[x] = cu;
      v[x] = cv;
    }
  }
}

}  // namespace

void bgrx_to_yuv(const Frame& f, const Rect& r, YuvImage& out) {
  if (r.width != out.width() || r.height != out.height())
    throw std::invalid_argument("colour conversion: region and picture sizes differ");
  if (r.x < 0 || r.y < 0 || r.right() > f.width() || r.bottom() > f.height())
    throw std::invalid_argument("colour conversion: region outside the frame");
  const Coeffs& c = out.bt709() ? (out.full_range() ? kFull709 : kLimited709) : (out.full_range() ? kFull : kLimited);
  for (int32_t y = 0; y < r.height; y += 2) {
    const uint32_t* r0 = f.row(r.y + y) + r.x;
    const uint32_t* r1 = f.row(r.y + y + 1) + r.x;
    uint8_t* y0 = out.plane(0) + size_t(y) * out.stride(0);
    luma_row(r0, r.width, y0, c);
    luma_row(r1, r.width, y0 + out.stride(0), c);
    if (out.layout() == YuvLayout::nv12) {
      chroma_rows<true>(r0, r1, r.width, out.plane(1) + size_t(y / 2) * out.stride(1), nullptr, c);
    } else {
      chroma_rows<false>(r0, r1, r.width, out.plane(1) + size_t(y / 2) * out.stride(1),
                         out.plane(2) + size_t(y / 2) * out.stride(2), c);
    }
  }
}

SwsConverter::~SwsConverter() { sws_freeContext(ctx_); }

void SwsConverter::convert(const Frame& f, const Rect& r, YuvImage& out) {
  if (r.width != out.width() || r.height != out.height())
    throw std::invalid_argument("colour conversion: region and picture sizes differ");
  if (!ctx_ || w_ != r.width || h_ != r.height || layout_ != out.layout() || full_ != out.full_range() ||
      bt709_ != out.bt709()) {
    sws_freeContext(ctx_);
    AVPixelFormat dst = out.layout() == YuvLayout::nv12 ? AV_PIX_FMT_NV12 : AV_PIX_FMT_YUV420P;
    ctx_ = sws_getContext(r.width, r.height, AV_PIX_FMT_BGR0, r.width, r.height, dst, SWS_BILINEAR, nullptr, nullptr,
                          nullptr);
    if (!ctx_) throw std::runtime_error("libswscale cannot convert BGR0 to YUV 4:2:0");
    const int* coefs = sws_getCoefficients(out.bt709() ? SWS_CS_ITU709 : SWS_CS_ITU601);
    sws_setColorspaceDetails(ctx_, coefs, 1, coefs, out.full_range() ? 1 : 0, 0, 1 << 16, 1 << 16);
    w_ = r.width;
    h_ = r.height;
    layout_ = out.layout();
    full_ = out.full_range();
    bt709_ = out.bt709();
  }
  const uint8_t* src[1] = {f.data() + size_t(r.y) * f.stride() + size_t(r.x) * 4};
  const int src_stride[1] = {f.stride()};
  uint8_t* dst[3] = {out.plane(0), out.plane(1), out.planes() == 3 ? out.plane(2) : nullptr};
  const int dst_stride[3] = {out.stride(0), out.stride(1), out.planes() == 3 ? out.stride(2) : 0};
  sws_scale(ctx_, src, src_stride, 0, r.height, dst, dst_stride);
}

}  // namespace tessera
