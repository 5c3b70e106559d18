#include "capture/image_source.h"

#include "core/png_file.h"

namespace tessera {

ImageSource::ImageSource(const std::string& path)
    : path_(path), frame_(std::make_shared<Frame>(read_png(path))) {}

std::string ImageSource::description() const {
  return "image " + path_ + " (" + std::to_string(frame_->width()) + "x" +
         std::to_string(frame_->height()) + ")";
}

CapturedFrame ImageSource::capture(uint64_t) {
  CapturedFrame c{frame_, {}};
  if (!sent_) c.damage = Region(frame_->bounds());
  sent_ = true;
  return c;
}

std::optional<CursorState> ImageSource::cursor(uint64_t) {
  // A still picture has no pointer of its own; viewers get a plain arrow to point with.
  return CursorState{default_arrow_cursor(), frame_->width() / 2, frame_->height() / 2, true};
}

}  // namespace tessera
