#pragma once
// Motion as "Open H.264" rectangles (RFB encoding 50) for clients that decode them (noVNC 1.6+,
// TigerVNC 1.13+ built with libav). One decoder context per rect on the client, keyed by the
// rect's exact position and size: the rect covers the largest part of the motion area, aligned
// to 16 pixels and kept inside the frame, and a new rect (a new context, starting with a
// keyframe) replaces it when that part moves out of it. One slice per picture: noVNC hands
// every slice to its decoder as a picture.
#include <memory>
#include <optional>
#include <vector>

#include "core/frame.h"
#include "core/region.h"
#include "encode/yuv_image.h"

namespace tessera {
class EncoderCatalog;
class VideoEncoder;
}  // namespace tessera

namespace tessera::vnc {

class H264Rects {
 public:
  H264Rects(std::shared_ptr<const EncoderCatalog> encoders, int bitrate_kbps);
  ~H264Rects();
  // Appends one H.264 rect for the motion area of `f`; returns 0 when none can be made (area
  // too small, no encoder, or the encoder gave no frame) and the caller sends the area otherwise.
  size_t encode(const Frame& f, const Region& motion_area, std::vector<uint8_t>& out);
  // The rect the client's context covers (empty when none).
  Region area() const;
  // Forget the context: the next frame starts a new one.
  void reset();

 private:
  std::shared_ptr<const EncoderCatalog> encoders_;
  int bitrate_kbps_;
  std::unique_ptr<VideoEncoder> enc_;
  std::optional<Rect> rect_;
  bool fresh_ = true;
  YuvImage picture_;
  bool failed_ = false;
};

}  // namespace tessera::vnc
