#include "core/frame_pool.h"

namespace tessera {

FramePool::Lease FramePool::acquire(Size size) {
  // Frames of another size are of no more use (the source was resized).
  std::erase_if(frames_, [&](const Entry& e) { return e.frame->size() != size && e.frame.use_count() == 1; });
  // Held by the pool alone: every viewer and the tracker let it go. Nobody can take a new
  // reference without holding one already, so this cannot change under us. The newest such
  // frame needs the least bringing up to date.
  Entry* best = nullptr;
  for (auto& e : frames_)
    if (e.frame.use_count() == 1 && e.frame->size() == size && e.frame->stride() == size.width * 4 &&
        (!best || e.generation > best->generation))
      best = &e;
  if (best) return {best->frame, best->generation};
  auto f = std::make_shared<Frame>(Frame::uninitialized(size.width, size.height));
  if (frames_.size() < max_) frames_.push_back({f, 0});
  return {f, 0};
}

void FramePool::stamp(const Frame* frame, uint64_t generation) {
  for (auto& e : frames_)
    if (e.frame.get() == frame) e.generation = generation;
}

}  // namespace tessera
