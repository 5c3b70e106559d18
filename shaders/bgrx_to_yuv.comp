#version 450
// BGRX -> YUV 4:2:0 of a rectangle, the integer math of encode/color_convert.cpp (coefficients
// in 1/32768, chroma from the 2x2 block's sums), so the bytes are identical. One invocation per
// 8 columns x 2 rows, so it owns whole 32-bit words of every plane (no byte stores needed):
// Y 2 words per row, NV12 UV 2 words, I420 U and V 1 word each. Output strides are multiples
// of 8 bytes; columns past the width land in that padding.
layout(local_size_x = 8, local_size_y = 8) in;

layout(std430, binding = 0) readonly buffer Src { uint src[]; };
layout(std430, binding = 1) writeonly buffer Dst { uint dst[]; };

layout(push_constant) uniform Params {
  uint src_width;  // pixels per source row
  uint rx, ry, rw, rh;
  uint nv12;
  uint y_stride, c_stride;  // bytes, multiples of 8 (Y) and 4 (chroma)
  uint u_offset, v_offset;  // bytes into dst
  int yr, yg, yb, y_off;
  int ur, ug, ub;
  int vr, vg, vb;
} p;

ivec3 rgb(uint px) { return ivec3(int((px >> 16) & 0xFFu), int((px >> 8) & 0xFFu), int(px & 0xFFu)); }

uint luma(ivec3 c) {
  int base = (p.y_off << 15) + (1 << 14);
  return uint((base + p.yr * c.r + p.yg * c.g + p.yb * c.b) >> 15) & 0xFFu;
}

// (u, v) of a 2x2 block from its channel sums.
uvec2 chroma(ivec3 s) {
  int base = (128 << 17) + (1 << 16);
  int u = clamp((base + p.ur * s.r + p.ug * s.g + p.ub * s.b) >> 17, 0, 255);
  int v = clamp((base + p.vr * s.r + p.vg * s.g + p.vb * s.b) >> 17, 0, 255);
  return uvec2(u, v);
}

void main() {
  uint gx = gl_GlobalInvocationID.x * 8u;  // first column of this group
  uint by = gl_GlobalInvocationID.y * 2u;  // first row of the pair
  if (gx >= p.rw || by >= p.rh) return;
  uint y0w[2] = uint[2](0u, 0u), y1w[2] = uint[2](0u, 0u);
  uint uw = 0u, vw = 0u, uv[2] = uint[2](0u, 0u);
  for (uint k = 0u; k < 4u; ++k) {  // 2x2 blocks
    uint x = gx + 2u * k;
    if (x >= p.rw) break;
    uint o0 = (p.ry + by) * p.src_width + p.rx + x, o1 = o0 + p.src_width;
    ivec3 a = rgb(src[o0]), b = rgb(src[o0 + 1u]), c = rgb(src[o1]), d = rgb(src[o1 + 1u]);
    uint shift = 8u * (2u * (k & 1u));
    y0w[k >> 1] |= (luma(a) | (luma(b) << 8)) << shift;
    y1w[k >> 1] |= (luma(c) | (luma(d) << 8)) << shift;
    uvec2 cv = chroma(a + b + c + d);
    uv[k >> 1] |= (cv.x | (cv.y << 8)) << shift;
    uw |= cv.x << (8u * k);
    vw |= cv.y << (8u * k);
  }
  uint yo = (by * p.y_stride + gx) / 4u;
  dst[yo] = y0w[0];
  dst[yo + 1u] = y0w[1];
  dst[yo + p.y_stride / 4u] = y1w[0];
  dst[yo + p.y_stride / 4u + 1u] = y1w[1];
  uint crow = by / 2u;
  if (p.nv12 != 0u) {
    uint co = (p.u_offset + crow * p.c_stride + gx) / 4u;
    dst[co] = uv[0];
    dst[co + 1u] = uv[1];
  } else {
    dst[(p.u_offset + crow * p.c_stride + gx / 2u) / 4u] = uw;
    dst[(p.v_offset + crow * p.c_stride + gx / 2u) / 4u] = vw;
  }
}
