#pragma once
// A video file played at its own rate, looping: tick k shows the decoded frame whose presentation
// time is the latest at or before k / fps (the capture rate), modulo the file's duration.
// Decoded with FFmpeg (libavformat, libavcodec), converted to BGRX with libswscale.
#include <memory>
#include <string>

#include "capture/frame_source.h"

namespace tessera {

class VideoSource : public FrameSource {
 public:
  // `tick_fps` is the rate capture() is called at (SourceOptions::fps). Opens the file and
  // decodes its first frame; throws std::runtime_error naming the file and FFmpeg's reason when
  // it cannot be opened, has no video stream or cannot be decoded.
  VideoSource(const std::string& path, double tick_fps);
  ~VideoSource() override;
  VideoSource(const VideoSource&) = delete;
  VideoSource& operator=(const VideoSource&) = delete;

  std::string description() const override;
  // The video's size, cut down to even numbers (an odd last column or row is dropped).
  Size size() const override { return size_; }
  // Damage is the whole frame when a new video frame is shown, empty when the same one stays.
  CapturedFrame capture(uint64_t index) override;
  std::optional<CursorState> cursor(uint64_t index) override;

  // The frame rate the file states; 0 when it states none.
  double frame_rate() const;
  // Seconds one pass lasts before it loops: the file's duration, or, for files that do not
  // say, the end of the last frame once it has been reached; 0 until known.
  double duration() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Size size_;
};

}  // namespace tessera
