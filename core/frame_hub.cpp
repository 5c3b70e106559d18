#include "core/frame_hub.h"

#include <algorithm>

namespace tessera {

namespace {
constexpr size_t kMaxQueuedMoves = 16;
}  // namespace

bool Subscription::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  auto pending = [&] { return full_ || !damage_.empty() || !moves_.empty() || cursor_; };
  cv_.wait_for(lock, timeout, [&] { return closed_ || pending(); });
  return !closed_ && pending();
}

std::optional<Subscription::FrameUpdate> Subscription::take_frame() {
  std::lock_guard lock(mu_);
  if (!frame_ || (!full_ && damage_.empty() && moves_.empty())) return std::nullopt;
  FrameUpdate u;
  u.frame = frame_;
  u.resized = frame_->size() != taken_size_;
  if (full_ || u.resized) {
    u.damage = Region(frame_->bounds());
  } else {
    u.damage = std::move(damage_);
    u.moves = std::move(moves_);
  }
  u.damage.intersect(frame_->bounds());
  u.motion = motion_;
  u.motion.intersect(u.damage);
  u.motion_area = motion_area_;
  u.motion_area.intersect(frame_->bounds());
  damage_.clear();
  moves_.clear();
  full_ = false;
  taken_size_ = frame_->size();
  return u;
}

std::optional<CursorState> Subscription::take_cursor() {
  std::lock_guard lock(mu_);
  std::optional<CursorState> c;
  c.swap(cursor_);
  return c;
}

void Subscription::request_full_frame() {
  std::lock_guard lock(mu_);
  full_ = true;
  cv_.notify_all();
}

void Subscription::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

bool Subscription::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

void Subscription::post_frame(const FramePtr& f, const FrameChange& change) {
  std::lock_guard lock(mu_);
  if (frame_ && frame_->size() != f->size()) full_ = true;
  frame_ = f;
  // A viewer that skipped frames still holds the content of the last frame it took, outside
  // the damage it has not taken yet. A move is only valid if it copies from such content;
  // otherwise its destination becomes damage. Too many queued moves all become damage.
  for (const Move& m : change.moves) {
    Region src(m.src());
    src.intersect(damage_);
    if (src.empty() && moves_.size() < kMaxQueuedMoves) {
      moves_.push_back(m);
      damage_.subtract(Region(m.dst));
    } else {
      damage_.add(m.dst);
    }
  }
  if (moves_.size() >= kMaxQueuedMoves) {
    for (const Move& m : moves_) damage_.add(m.dst);
    moves_.clear();
  }
  damage_.add(change.damage);
  motion_ = change.motion;
  motion_area_ = change.motion_area;
  // Many small rectangles cost more to send than their bounding box; keep the list short.
  if (damage_.rect_count() > 256) damage_ = Region(damage_.bounds());
  cv_.notify_all();
}

void Subscription::post_cursor(const CursorState& c) {
  std::lock_guard lock(mu_);
  cursor_ = c;
  cv_.notify_all();
}

void FrameHub::publish(FramePtr frame, const Region& damage) {
  FrameChange c;
  c.damage = damage;
  publish(std::move(frame), c);
}

void FrameHub::publish(FramePtr frame, const FrameChange& change) {
  std::lock_guard lock(mu_);
  latest_ = frame;
  std::erase_if(subs_, [&](const std::weak_ptr<Subscription>& w) {
    auto s = w.lock();
    if (!s) return true;
    if (s->interest_.frames) s->post_frame(frame, change);
    return false;
  });
}

void FrameHub::publish_cursor(const CursorState& cursor) {
  std::lock_guard lock(mu_);
  cursor_ = cursor;
  std::erase_if(subs_, [&](const std::weak_ptr<Subscription>& w) {
    auto s = w.lock();
    if (!s) return true;
    if (s->interest_.cursor) s->post_cursor(cursor);
    return false;
  });
}

std::shared_ptr<Subscription> FrameHub::subscribe(Interest interest) {
  auto s = std::make_shared<Subscription>();
  s->interest_ = interest;
  std::lock_guard lock(mu_);
  if (closed_) {
    s->close();
    return s;
  }
  if (latest_ && interest.frames) {
    s->frame_ = latest_;
    s->full_ = true;
  }
  if (cursor_ && interest.cursor) s->cursor_ = cursor_;
  subs_.push_back(s);
  return s;
}

FramePtr FrameHub::latest() const {
  std::lock_guard lock(mu_);
  return latest_;
}

std::optional<CursorState> FrameHub::cursor() const {
  std::lock_guard lock(mu_);
  return cursor_;
}

void FrameHub::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  for (auto& w : subs_)
    if (auto s = w.lock()) s->close();
  subs_.clear();
}

}  // namespace tessera
