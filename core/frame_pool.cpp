#include "core/frame_pool.h"

namespace tessera {

std::shared_ptr<Frame> FramePool::acquire(Size size) {
  // Frames of another size are of no more use (the source was resized).
  std::erase_if(frames_, [&](const std::shared_ptr<Frame>& f) { return f->size() != size && f.use_count() == 1; });
  for (auto& f : frames_)
    // Held by the pool alone: every viewer and the tracker let it go. Nobody can take a new
    // reference without holding one already, so this cannot change under us.
    if (f.use_count() == 1 && f->stride() == size.width * 4) return f;
  auto f = std::make_shared<Frame>(Frame::uninitialized(size.width, size.height));
  if (frames_.size() < max_) frames_.push_back(f);
  return f;
}

}  // namespace tessera
