#pragma once
// Mirrors a SPICE client's pixmap cache: which images it holds, under which ids, within the
// pixel budget it announced in DISPLAY_INIT. The client never evicts on its own and freezes
// its display waiting for an id it does not have, so this side decides everything: an image
// is only ever referenced (FROM_CACHE) while it is recorded here, and room is made by telling
// the client to drop the images used longest ago (INVAL_LIST) before a new one is added.
#include <cstdint>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/frame.h"

namespace tessera::spice {

class ImageCache {
 public:
  // Content identity: two independent 64-bit hashes of the pixels and the size. A false match
  // would show the wrong picture, so 128 bits of hash stand in for the pixels.
  struct Key {
    uint64_t h1 = 0, h2 = 0;
    int32_t width = 0, height = 0;
    bool operator==(const Key&) const = default;
  };
  static Key key_of(const Frame& f, const Rect& r);

  // The client's budget in pixels; 0 (the default, or a client that sent none) turns caching off.
  void set_capacity(int64_t pixels);
  int64_t capacity() const { return capacity_; }
  int64_t used() const { return used_; }
  size_t size() const { return lru_.size(); }
  // Whether an image of this many pixels is worth a place (not tiny, not most of the cache).
  bool worth_caching(int64_t pixels) const;

  // The id the client holds this content under, marked as just used; nullopt when it has none.
  std::optional<uint64_t> find(const Key& k);
  // Records `id` as held with `k`. Returns the ids the client must drop first (oldest use first)
  // so that the budget holds with the new image in it.
  std::vector<uint64_t> insert(const Key& k, uint64_t id, int64_t pixels);
  // The client dropped everything (INVAL_ALL_PIXMAPS sent).
  void clear();

 private:
  struct KeyHash {
    size_t operator()(const Key& k) const { return size_t(k.h1 ^ (k.h2 << 1)); }
  };
  struct Entry {
    Key key;
    uint64_t id;
    int64_t pixels;
  };
  int64_t capacity_ = 0, used_ = 0;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> by_key_;
};

}  // namespace tessera::spice
