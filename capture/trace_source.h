#pragma once
// A recorded frame trace played back: a directory of PNG files, one per tick in name order
// (`tessera record` writes frame-000000.png ...). Ticks past the end hold the last frame, so a
// bench run longer than the trace ends on a still picture. All frames must share one size.
#include <string>
#include <vector>

#include "capture/frame_source.h"

namespace tessera {

class TraceSource : public FrameSource {
 public:
  // Throws std::runtime_error naming the directory or file when there is nothing to play.
  explicit TraceSource(const std::string& dir);
  std::string description() const override;
  Size size() const override { return size_; }
  CapturedFrame capture(uint64_t index) override;
  size_t frames() const { return files_.size(); }

 private:
  std::string dir_;
  std::vector<std::string> files_;
  Size size_{};
  std::optional<size_t> last_;
  FramePtr last_frame_;
};

// Writes `count` ticks of `source` (from `first`) as a trace into `dir` (created if missing).
void record_trace(FrameSource& source, uint64_t first, uint64_t count, const std::string& dir);

}  // namespace tessera
