#pragma once
// A frame source for rate tests: two flat pictures in turn, every tick, each wholly damaged, so
// every update a viewer gets is one whole new picture.
#include <memory>
#include <string>

#include "capture/frame_source.h"

namespace tessera::test {

class AlternatingSource final : public FrameSource {
 public:
  explicit AlternatingSource(Size size) : size_(size) {
    for (int i = 0; i < 2; ++i) {
      auto f = std::make_shared<Frame>(size.width, size.height);
      f->fill(f->bounds(), bgrx(uint8_t(i * 200), 40, 90));
      f->fill({size.width / 8, size.height / 8, size.width / 3, size.height / 3}, bgrx(250, uint8_t(i * 100), 0));
      frames_[i] = f;
    }
  }
  std::string description() const override { return "alternating"; }
  Size size() const override { return size_; }
  CapturedFrame capture(uint64_t index) override { return {frames_[index % 2], Region(frames_[0]->bounds())}; }

 private:
  Size size_;
  FramePtr frames_[2];
};

}  // namespace tessera::test
