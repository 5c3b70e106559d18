#pragma once
// A PNG shown as a still desktop, pixel for pixel.
#include "capture/frame_source.h"

namespace tessera {

class ImageSource : public FrameSource {
 public:
  explicit ImageSource(const std::string& path);
  std::string description() const override;
  Size size() const override { return frame_->size(); }
  CapturedFrame capture(uint64_t index) override;
  std::optional<CursorState> cursor(uint64_t index) override;

 private:
  std::string path_;
  FramePtr frame_;
  bool sent_ = false;
};

}  // namespace tessera
