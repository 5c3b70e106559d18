#pragma once
// Reuses frame buffers that nobody holds any more. A capture source makes a new full-size frame
// for every change; allocating one means fresh pages from the kernel (page faults, zeroing) each
// time, which costs more than the copy itself. Not thread-safe: one pool per producer.
#include <memory>
#include <vector>

#include "core/frame.h"

namespace tessera {

class FramePool {
 public:
  explicit FramePool(size_t max_frames = 8) : max_(max_frames) {}
  // A tightly packed frame of `size` that only the caller holds. Its pixels are left as they
  // were: the caller writes all of them.
  std::shared_ptr<Frame> acquire(Size size);
  size_t pooled() const { return frames_.size(); }

 private:
  size_t max_;
  std::vector<std::shared_ptr<Frame>> frames_;
};

}  // namespace tessera
