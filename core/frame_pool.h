#pragma once
// Reuses frame buffers that nobody holds any more. A capture source makes a new full-size frame
// for every change; allocating one means fresh pages from the kernel (page faults, zeroing) each
// time, which costs more than the copy itself. Each buffer remembers which of the producer's
// frames it last held (a generation number the producer chooses), so the producer can bring it
// up to date by copying only what changed since, not the whole frame. Not thread-safe: one pool
// per producer.
#include <cstdint>
#include <memory>
#include <vector>

#include "core/frame.h"

namespace tessera {

class FramePool {
 public:
  struct Lease {
    std::shared_ptr<Frame> frame;
    uint64_t held = 0;  // the generation its pixels are; 0: unknown (new, or never stamped)
  };

  explicit FramePool(size_t max_frames = 8) : max_(max_frames) {}
  // A tightly packed frame of `size` that only the caller holds, with its pixels as they were.
  Lease acquire(Size size);
  // Says which generation `frame` (from acquire) now holds; 0 while it is being rewritten.
  void stamp(const Frame* frame, uint64_t generation);
  size_t pooled() const { return frames_.size(); }

 private:
  struct Entry {
    std::shared_ptr<Frame> frame;
    uint64_t generation = 0;
  };
  size_t max_;
  std::vector<Entry> frames_;
};

}  // namespace tessera
