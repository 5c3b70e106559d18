#include "transport/spice/image_cache.h"

#include <cstring>

namespace tessera::spice {

namespace {
// Below this an image costs little to send again, and would crowd out the ones that pay.
constexpr int64_t kMinCachePixels = 4096;
}  // namespace

ImageCache::Key ImageCache::key_of(const Frame& f, const Rect& r) {
  // Two lanes with different constants and mixing: independent enough that one collision does
  // not imply the other.
  uint64_t a = 0x9E3779B97F4A7C15ull ^ uint64_t(r.width) << 32 ^ uint64_t(r.height);
  uint64_t b = 0xC2B2AE3D27D4EB4Full + uint64_t(r.width) * 31 + uint64_t(r.height);
  for (int32_t y = 0; y < r.height; ++y) {
    const uint32_t* p = f.row(r.y + y) + r.x;
    int32_t x = 0;
    for (; x + 2 <= r.width; x += 2) {
      uint64_t v;
      std::memcpy(&v, p + x, 8);
      v &= 0x00FFFFFF00FFFFFFull;  // the X byte is not part of the picture
      a = (a ^ v) * 0x100000001B3ull;
      a ^= a >> 32;
      b = (b + v) * 0xFF51AFD7ED558CCDull;
      b ^= b >> 29;
    }
    for (; x < r.width; ++x) {
      uint64_t v = p[x] & 0xFFFFFFu;
      a = (a ^ v) * 0x100000001B3ull;
      b = (b + v) * 0xFF51AFD7ED558CCDull;
    }
  }
  return {a, b, r.width, r.height};
}

void ImageCache::set_capacity(int64_t pixels) {
  capacity_ = pixels > 0 ? pixels : 0;
  // A smaller budget than what is held cannot be honoured without telling the client; this
  // is only called before the first image.
  if (used_ > capacity_) clear();
}

bool ImageCache::worth_caching(int64_t pixels) const {
  return capacity_ > 0 && pixels >= kMinCachePixels && pixels * 4 <= capacity_;
}

std::optional<uint64_t> ImageCache::find(const Key& k) {
  auto it = by_key_.find(k);
  if (it == by_key_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->id;
}

std::vector<uint64_t> ImageCache::insert(const Key& k, uint64_t id, int64_t pixels) {
  std::vector<uint64_t> evicted;
  if (auto it = by_key_.find(k); it != by_key_.end()) {
    // The same content under a new id: the old one goes, so no id is held twice.
    evicted.push_back(it->second->id);
    used_ -= it->second->pixels;
    lru_.erase(it->second);
    by_key_.erase(it);
  }
  while (!lru_.empty() && used_ + pixels > capacity_) {
    const Entry& old = lru_.back();
    evicted.push_back(old.id);
    used_ -= old.pixels;
    by_key_.erase(old.key);
    lru_.pop_back();
  }
  lru_.push_front({k, id, pixels});
  by_key_[k] = lru_.begin();
  used_ += pixels;
  return evicted;
}

void ImageCache::clear() {
  lru_.clear();
  by_key_.clear();
  used_ = 0;
}

}  // namespace tessera::spice
