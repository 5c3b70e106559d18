#pragma once
// Every frame source (demo desktop, still image, later X11, video files, the embedding API)
// sits behind this interface. A source produces frames on request, says which pixels changed
// since the frame it produced before, and may report a pointer and accept input.
#include <memory>
#include <optional>
#include <string>

#include "core/cursor.h"
#include "core/frame.h"
#include "core/input_event.h"
#include "core/region.h"

namespace tessera {

struct CapturedFrame {
  FramePtr frame;
  Region damage;  // changed since the previous capture() call; the whole frame on the first
};

struct SourceOptions {
  Size size{1280, 800};  // for sources that choose their size (demo)
  double fps = 30.0;
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  virtual std::string description() const = 0;
  virtual Size size() const = 0;
  // Produces the frame for tick `index` (indices never decrease; some may be skipped, and a
  // source that reports changes may be asked twice for one index).
  virtual CapturedFrame capture(uint64_t index) = 0;
  // Sources that learn of changes (X damage events, frames submitted through the embedding API)
  // say so, and the capture loop takes a frame at once instead of at the next tick: a descriptor
  // that becomes readable when something new may have arrived (-1: none, capture on ticks), and
  // whether a change is already waiting where the descriptor does not show it (a library's own
  // event queue). Both are asked between captures, change_queued() under the capture lock.
  virtual int change_fd() const { return -1; }
  virtual bool change_queued() { return false; }
  // The pointer at tick `index`; nullopt when the source has none.
  virtual std::optional<CursorState> cursor(uint64_t /*index*/) { return std::nullopt; }
  // Input from viewers; sources that cannot take input ignore it.
  virtual void handle_input(const InputEvent& /*event*/) {}
};

// "demo" or "image:PATH". Throws std::invalid_argument / std::runtime_error with a reason.
std::unique_ptr<FrameSource> make_frame_source(const std::string& spec, const SourceOptions& opts);

}  // namespace tessera
