#include "transport/spice/glz_encoder.h"

#include <algorithm>

namespace tessera::spice {

namespace {
constexpr uint32_t kMagic = 0x20205A4Cu;  // "LZ  " read as a little-endian word; sent big-endian
constexpr uint32_t kVersion = 0x00010001u;
constexpr uint8_t kTypeRgb32 = 8;
constexpr uint8_t kTopDown = 1 << 4;
constexpr size_t kMaxLiterals = 32;
constexpr int kTableBits = 18;
constexpr size_t kMinRun = 2, kMinMatch = 3;

void be32(std::vector<uint8_t>& o, uint32_t v) {
  o.push_back(uint8_t(v >> 24));
  o.push_back(uint8_t(v >> 16));
  o.push_back(uint8_t(v >> 8));
  o.push_back(uint8_t(v));
}
}  // namespace

GlzEncoder::GlzEncoder(int64_t window_pixels) : capacity_(std::max<int64_t>(0, window_pixels)) {
  if (capacity_ > 0) table_.resize(size_t(1) << kTableBits);
}

uint32_t GlzEncoder::hash3(const uint32_t* p) {
  uint64_t h = (uint64_t(p[0]) * 0x9E3779B97F4A7C15ull) ^ (uint64_t(p[1]) * 0xC2B2AE3D27D4EB4Full) ^
               (uint64_t(p[2]) * 0x165667B19E3779F9ull);
  return uint32_t(h >> 32);
}

const GlzEncoder::Image* GlzEncoder::image(uint64_t id) const {
  if (window_.empty() || id < window_.front().id || id > window_.back().id) return nullptr;
  return &window_[size_t(id - window_.front().id)];
}

void GlzEncoder::emit_literals(const uint32_t* p, size_t n) {
  while (n) {
    size_t k = std::min(n, kMaxLiterals);
    out_.push_back(uint8_t(k - 1));
    for (size_t i = 0; i < k; ++i) {
      out_.push_back(uint8_t(p[i]));
      out_.push_back(uint8_t(p[i] >> 8));
      out_.push_back(uint8_t(p[i] >> 16));
    }
    p += k;
    n -= k;
  }
}

void GlzEncoder::emit_match(size_t len, uint64_t image_dist, uint32_t offset) {
  const uint8_t len_field = uint8_t(std::min<size_t>(len, 7));
  const bool short_form = offset < (1u << 12) && image_dist < (uint64_t(1) << 30);
  auto length_bytes = [&] {
    if (len < 7) return;
    size_t extra = len - 7;
    while (extra >= 255) {
      out_.push_back(255);
      extra -= 255;
    }
    out_.push_back(uint8_t(extra));
  };
  if (short_form) {
    uint8_t image_flag = image_dist < 64 ? 0 : image_dist < (1u << 14) ? 1 : image_dist < (1u << 22) ? 2 : 3;
    out_.push_back(uint8_t(len_field << 5 | (offset & 0xF)));
    length_bytes();
    out_.push_back(uint8_t(offset >> 4));
    out_.push_back(uint8_t(image_flag << 6 | (image_dist & 0x3F)));
    for (int k = 0; k < image_flag; ++k) out_.push_back(uint8_t(image_dist >> (6 + 8 * k)));
    return;
  }
  // Long form: up to 25 bits of offset and 24 of image distance (the window is smaller).
  uint8_t image_flag = image_dist == 0 ? 0 : image_dist < (1u << 8) ? 1 : image_dist < (1u << 16) ? 2 : 3;
  bool high = offset >= (1u << 17);
  out_.push_back(uint8_t(len_field << 5 | 1 << 4 | (offset & 0xF)));
  length_bytes();
  out_.push_back(uint8_t(offset >> 4));
  out_.push_back(uint8_t(image_flag << 6 | uint8_t(high) << 5 | ((offset >> 12) & 0x1F)));
  for (int k = 0; k < image_flag; ++k) out_.push_back(uint8_t(image_dist >> (8 * k)));
  if (high) out_.push_back(uint8_t(offset >> 17));
}

std::optional<std::vector<uint8_t>> GlzEncoder::encode(const Frame& f, const Rect& r, size_t max_bytes) {
  const size_t n = size_t(r.width) * size_t(r.height);
  if (!enabled() || n == 0 || int64_t(n) > capacity_ || n >= (size_t(1) << 25)) return std::nullopt;

  // The window after this image joins it: the oldest images leave until it fits.
  int64_t kept = window_pixels_;
  evict_to_ = window_.empty() ? next_id_ : window_.front().id;
  for (const Image& img : window_) {
    if (kept + int64_t(n) <= capacity_) break;
    kept -= int64_t(img.px.size());
    evict_to_ = img.id + 1;
  }
  const uint64_t id = next_id_;

  pending_.id = id;
  pending_.px.resize(n);
  for (int32_t y = 0; y < r.height; ++y) {
    const uint32_t* src = f.row(r.y + y) + r.x;
    uint32_t* dst = pending_.px.data() + size_t(y) * size_t(r.width);
    for (int32_t x = 0; x < r.width; ++x) dst[x] = src[x] & 0xFFFFFFu;
  }
  const uint32_t* px = pending_.px.data();

  out_.clear();
  out_.reserve(n + 64);
  be32(out_, kMagic);
  be32(out_, kVersion);
  out_.push_back(kTypeRgb32 | kTopDown);
  be32(out_, uint32_t(r.width));
  be32(out_, uint32_t(r.height));
  be32(out_, uint32_t(r.width) * 4);
  be32(out_, uint32_t(id >> 32));
  be32(out_, uint32_t(id));
  be32(out_, uint32_t(id - evict_to_));

  // Positions in this image, by hash; sized to it so that small images stay cheap.
  size_t local_size = 256;
  while (local_size < 2 * n) local_size <<= 1;
  local_.assign(local_size, 0);
  const size_t local_mask = local_size - 1, table_mask = table_.size() - 1;
  auto remember = [&](size_t at) {
    if (at + 3 <= n) local_[hash3(px + at) & local_mask] = uint32_t(at + 1);
  };

  size_t lit_start = 0, i = 0;
  while (i < n) {
    size_t best = 0;
    uint64_t best_dist = 0;
    uint32_t best_ofs = 0;
    // A run of the pixel before: offset 1 in this image.
    if (i > 0 && px[i] == px[i - 1]) {
      size_t len = 1;
      while (i + len < n && px[i + len] == px[i - 1]) ++len;
      if (len >= kMinRun) best = len, best_dist = 0, best_ofs = 0;
    }
    if (i + 3 <= n) {
      uint32_t h = hash3(px + i);
      // Earlier in this image (the copy may overlap what it writes, as the client's does).
      if (uint32_t at = local_[h & local_mask]) {
        size_t from = at - 1, len = 0;
        while (i + len < n && px[from + len] == px[i + len]) ++len;
        if (len >= kMinMatch && len > best) best = len, best_dist = 0, best_ofs = uint32_t(i - from - 1);
      }
      // An image before this one, still in the window after it joins.
      const Slot& s = table_[h & table_mask];
      if (s.image != ~uint64_t(0) && s.image >= evict_to_ && s.image < id) {
        if (const Image* img = image(s.image)) {
          size_t limit = std::min(n - i, img->px.size() - s.offset), len = 0;
          while (len < limit && img->px[s.offset + len] == px[i + len]) ++len;
          if (len >= kMinMatch && len > best) best = len, best_dist = id - s.image, best_ofs = s.offset;
        }
      }
    }
    if (best == 0) {
      remember(i);
      ++i;
      // Pending literals cost at least 3 bytes each.
      if ((i & 255) == 0 && out_.size() + (i - lit_start) * 3 >= max_bytes) return std::nullopt;
      continue;
    }
    emit_literals(px + lit_start, i - lit_start);
    emit_match(best, best_dist, best_ofs);
    if (out_.size() >= max_bytes) return std::nullopt;
    for (size_t k = 0; k < best; ++k) remember(i + k);
    i += best;
    lit_start = i;
  }
  emit_literals(px + lit_start, n - lit_start);
  if (out_.size() >= max_bytes) return std::nullopt;
  return out_;
}

void GlzEncoder::commit() {
  while (!window_.empty() && window_.front().id < evict_to_) {
    window_pixels_ -= int64_t(window_.front().px.size());
    window_.pop_front();
  }
  const size_t n = pending_.px.size(), mask = table_.size() - 1;
  for (size_t at = 0; at + 3 <= n; ++at) table_[hash3(pending_.px.data() + at) & mask] = {pending_.id, uint32_t(at)};
  window_pixels_ += int64_t(n);
  window_.push_back(std::move(pending_));
  pending_ = {};
  ++next_id_;
}

}  // namespace tessera::spice
