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
  // Produces the frame for tick `index` (indices only grow; some may be skipped).
  virtual CapturedFrame capture(uint64_t index) = 0;
  // The pointer at tick `index`; nullopt when the source has none.
  virtual std::optional<CursorState> cursor(uint64_t /*index*/) { return std::nullopt; }
  // Input from viewers; sources that cannot take input ignore it.
  virtual void handle_input(const InputEvent& /*event*/) {}
};

// "demo" or "image:PATH". Throws std::invalid_argument / std::runtime_error with a reason.
std::unique_ptr<FrameSource> make_frame_source(const std::string& spec, const SourceOptions& opts);

}  // namespace tessera
