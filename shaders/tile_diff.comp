#version 450
// Which tiles of the new frame differ from the previous one (both BGRX, one uint per pixel,
// rows packed), plus, for changed tiles, an edge count: pixels whose luma differs from the right
// neighbour's by more than a threshold. Text and UI have many sharp edges, photos and video few.
// One workgroup per tile; the comparison stops as soon as one differing pixel is seen.
layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer Cur { uint cur[]; };
layout(std430, binding = 1) readonly buffer Prev { uint prev[]; };
layout(std430, binding = 2) writeonly buffer Changed { uint changed[]; };
layout(std430, binding = 3) writeonly buffer Edges { uint edges[]; };

layout(push_constant) uniform Params {
  uint width;
  uint height;
  uint tile;
  uint cols;
  uint edge_threshold;
} p;

shared uint s_changed;
shared uint s_edges;

uint luma(uint px) {
  uint b = px & 0xFFu, g = (px >> 8) & 0xFFu, r = (px >> 16) & 0xFFu;
  return (77u * r + 150u * g + 29u * b) >> 8;
}

void main() {
  uint col = gl_WorkGroupID.x, row = gl_WorkGroupID.y;
  uint x0 = col * p.tile, y0 = row * p.tile;
  uint tw = min(p.tile, p.width - x0), th = min(p.tile, p.height - y0);
  uint lid = gl_LocalInvocationIndex;
  if (lid == 0u) {
    s_changed = 0u;
    s_edges = 0u;
  }
  barrier();
  // Each invocation walks its share of the tile with no barrier inside the loop (barriers are
  // costly, on software devices most of all); it stops at its own first difference, and every
  // few pixels also when another invocation already found one.
  // Lanes as rows of tw columns (tiles are at most 256 wide): no division per pixel.
  uint rows_per_pass = 256u / tw;
  uint lx = lid % tw, ly = lid / tw;
  bool lane = ly < rows_per_pass;
  uint step = 0u;
  for (uint y = ly; lane && y < th; y += rows_per_pass) {
    uint o = (y0 + y) * p.width + x0 + lx;
    if (cur[o] != prev[o]) {
      atomicOr(s_changed, 1u);
      break;
    }
    if ((++step & 7u) == 0u && atomicOr(s_changed, 0u) != 0u) break;
  }
  memoryBarrierShared();
  barrier();
  if (s_changed == 0u) {
    if (lid == 0u) {
      changed[row * p.cols + col] = 0u;
      edges[row * p.cols + col] = 0u;
    }
    return;
  }
  uint count = 0u;
  for (uint y = ly; lane && x0 + lx + 1u < p.width && y < th; y += rows_per_pass) {
    uint o = (y0 + y) * p.width + x0 + lx;
    uint a = luma(cur[o]), b = luma(cur[o + 1u]);
    if (max(a, b) - min(a, b) > p.edge_threshold) ++count;
  }
  if (count != 0u) atomicAdd(s_edges, count);
  memoryBarrierShared();
  barrier();
  if (lid == 0u) {
    changed[row * p.cols + col] = 1u;
    edges[row * p.cols + col] = s_edges;
  }
}
