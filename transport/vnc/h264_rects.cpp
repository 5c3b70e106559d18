#include "transport/vnc/h264_rects.h"

#include <algorithm>

#include "core/log.h"
#include "core/motion_boxes.h"
#include "encode/color_convert.h"
#include "encode/encoder_catalog.h"
#include "transport/vnc/rect_encoder.h"
#include "transport/vnc/rfb_wire.h"

namespace tessera::vnc {

namespace {
constexpr int kMinSide = 64;            // smaller motion is cheaper as JPEG or lossless
constexpr uint32_t kResetContext = 1;  // flag: (re)create this rect's decoder context

int align_up(int v, int a) { return (v + a - 1) / a * a; }

// The motion bounds grown to whole 16-pixel blocks (what H.264 codes) and moved to stay inside
// the frame.
std::optional<Rect> video_rect(const Rect& b, Size frame) {
  int w = std::min(align_up(b.width, 16), frame.width / 16 * 16);
  int h = std::min(align_up(b.height, 16), frame.height / 16 * 16);
  if (w < kMinSide || h < kMinSide) return std::nullopt;
  int x = std::clamp(b.x / 2 * 2, 0, frame.width - w), y = std::clamp(b.y / 2 * 2, 0, frame.height - h);
  return Rect{x, y, w, h};
}
}  // namespace

H264Rects::H264Rects(std::shared_ptr<const EncoderCatalog> encoders, int bitrate_kbps)
    : encoders_(std::move(encoders)), bitrate_kbps_(bitrate_kbps) {}

H264Rects::~H264Rects() = default;

Region H264Rects::area() const { return rect_ ? Region(*rect_) : Region(); }

void H264Rects::reset() {
  enc_.reset();
  rect_.reset();
  fresh_ = true;
}

size_t H264Rects::encode(const Frame& f, const Region& motion_area, std::vector<uint8_t>& out) {
  if (failed_ || motion_area.empty() || !encoders_->selected(VideoCodec::h264)) return 0;
  // The biggest connected part of the motion, without sparse edges (a pointer trail joined to
  // a video must not pull text into it); other parts go as JPEG or lossless.
  Rect bounds{};
  for (const Rect& b : motion_boxes(motion_area, f.bounds())) {
    Rect t = trim_sparse_edges(b, motion_area);
    if (t.area() > bounds.area()) bounds = t;
  }
  if (bounds.area() == 0) return 0;
  if (!rect_ || !rect_->contains(bounds)) {
    auto r = video_rect(bounds, f.size());
    if (!r) return 0;
    reset();
    VideoEncoderConfig cfg;
    cfg.codec = VideoCodec::h264;
    cfg.width = r->width;
    cfg.height = r->height;
    cfg.bitrate_kbps = bitrate_kbps_;
    cfg.single_slice = true;  // noVNC decodes each slice as a picture
    try {
      enc_ = encoders_->open(VideoCodec::h264, cfg);
    } catch (const std::exception& e) {
      spdlog::warn("vnc: H.264 encoder for {}x{} failed to open: {}; motion goes as Tight JPEG or lossless", r->width,
                   r->height, e.what());
      failed_ = true;
      return 0;
    }
    rect_ = r;
  }
  picture_.reset(enc_->input_layout(), rect_->width, rect_->height, enc_->full_range_input());
  picture_.set_bt709(enc_->wants_bt709());
  bgrx_to_yuv(f, *rect_, picture_);
  std::vector<EncodedFrame> frames;
  try {
    frames = enc_->encode(picture_, fresh_);
  } catch (const std::exception& e) {
    spdlog::warn("vnc: H.264 encoder failed: {}; motion goes as Tight JPEG or lossless", e.what());
    failed_ = true;
    reset();
    return 0;
  }
  if (frames.empty()) return 0;
  size_t n = 0;
  for (const auto& fr : frames) {
    put_rect_header(out, *rect_, rfb::kOpenH264);
    BeWriter w;
    w.u32(uint32_t(fr.data.size())).u32(fresh_ ? kResetContext : 0);
    auto h = w.take();
    out.insert(out.end(), h.begin(), h.end());
    out.insert(out.end(), fr.data.begin(), fr.data.end());
    fresh_ = false;
    ++n;
  }
  return n;
}

}  // namespace tessera::vnc
