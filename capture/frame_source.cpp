#include "capture/frame_source.h"

#include <stdexcept>

#include "capture/demo_source.h"
#include "capture/image_source.h"
#include "capture/trace_source.h"
#include "capture/video_source.h"
#include "capture/x11_source.h"

namespace tessera {

std::unique_ptr<FrameSource> make_frame_source(const std::string& spec, const SourceOptions& opts) {
  if (spec == "demo") return std::make_unique<DemoSource>(opts.size, opts.fps);
  if (spec == "x11" || spec.rfind("x11:", 0) == 0) return std::make_unique<X11Source>(spec.size() > 4 ? spec.substr(4) : "");
  if (spec.rfind("image:", 0) == 0) {
    std::string path = spec.substr(6);
    if (path.empty()) throw std::invalid_argument("image source needs a path: image:PATH");
    return std::make_unique<ImageSource>(path);
  }
  if (spec.rfind("video:", 0) == 0) {
    std::string path = spec.substr(6);
    if (path.empty()) throw std::invalid_argument("video source needs a path: video:PATH");
    return std::make_unique<VideoSource>(path, opts.fps);
  }
  if (spec.rfind("trace:", 0) == 0) {
    std::string path = spec.substr(6);
    if (path.empty()) throw std::invalid_argument("trace source needs a directory: trace:DIR");
    return std::make_unique<TraceSource>(path);
  }
  throw std::invalid_argument("unknown source '" + spec +
                              "' (expected demo, image:PATH, video:PATH, trace:DIR or x11:DISPLAY)");
}

}  // namespace tessera
