#version 450
// RegionClassifier::update per tile: shift the change history, enter motion after
// enter_changes of the last enter_window frames, leave it once still for `hold` since the last
// change. Times are nanoseconds as 64-bit two's complement in (lo, hi) pairs, compared exactly.
layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Changed { uint changed[]; };
layout(std430, binding = 1) buffer History { uint history[]; };
layout(std430, binding = 2) buffer LastChange { uvec2 last_change[]; };
layout(std430, binding = 3) buffer Motion { uint motion[]; };

layout(push_constant) uniform Params {
  uint tiles;
  uint window_mask;
  uint enter_changes;
  uint pad;
  uvec2 now;   // (lo, hi)
  uvec2 hold;  // (lo, hi), >= 0
} p;

// a - b >= c for 64-bit signed a - b (no overflow, as in the C++) and c >= 0.
bool elapsed_at_least(uvec2 a, uvec2 b, uvec2 c) {
  uint borrow;
  uint lo = usubBorrow(a.x, b.x, borrow);
  uint hi = a.y - b.y - borrow;
  if (int(hi) < 0) return false;
  return hi > c.y || (hi == c.y && lo >= c.x);
}

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.tiles) return;
  bool ch = changed[i] != 0u;
  uint h = ((history[i] << 1) | (ch ? 1u : 0u)) & 0xFFFFu;
  history[i] = h;
  if (ch) last_change[i] = p.now;
  if (motion[i] == 0u) {
    if (uint(bitCount(h & p.window_mask)) >= p.enter_changes) motion[i] = 1u;
  } else if (!ch && elapsed_at_least(p.now, last_change[i], p.hold)) {
    motion[i] = 0u;
  }
}
