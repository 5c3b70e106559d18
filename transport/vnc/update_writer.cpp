#include "transport/vnc/update_writer.h"

#include <fmt/format.h>

#include "transport/vnc/h264_rects.h"
#include "transport/vnc/rfb_wire.h"

namespace tessera::vnc {

namespace {

constexpr int kMaxRectsPerUpdate = 65534;

bool supported_encoding(int32_t e) {
  return e == rfb::kRaw || e == rfb::kZlib || e == rfb::kHextile || e == rfb::kZrle || e == rfb::kTight ||
         e == rfb::kTightPng;
}

std::unique_ptr<RectEncoder> make_encoder(int32_t e) {
  switch (e) {
    case rfb::kZlib: return make_zlib_encoder();
    case rfb::kHextile: return make_hextile_encoder();
    case rfb::kZrle: return make_zrle_encoder();
    case rfb::kTight: return make_tight_encoder(false);
    case rfb::kTightPng: return make_tight_encoder(true);
    default: return make_raw_encoder();
  }
}

void put_update_header(std::vector<uint8_t>& out, uint16_t nrects) {
  out.push_back(rfb::kFramebufferUpdate);
  out.push_back(0);
  out.push_back(uint8_t(nrects >> 8));
  out.push_back(uint8_t(nrects));
}

}  // namespace

const char* encoding_name(int32_t e) {
  switch (e) {
    case rfb::kRaw: return "Raw";
    case rfb::kZlib: return "Zlib";
    case rfb::kHextile: return "Hextile";
    case rfb::kZrle: return "ZRLE";
    case rfb::kTight: return "Tight";
    case rfb::kTightPng: return "TightPNG";
    default: return "?";
  }
}

ClientFeatures ClientFeatures::from_encodings(const std::vector<int32_t>& encs, const PixelFormat& pf) {
  ClientFeatures f;
  f.pf = pf;
  bool preferred_set = false;
  for (int32_t e : encs) {
    if (!preferred_set && supported_encoding(e)) {
      f.preferred = e;
      preferred_set = true;
    }
    if (e == rfb::kCopyRect) f.copyrect = true;
    if (e == rfb::kDesktopSize) f.desktop_size = true;
    if (e == rfb::kExtendedDesktopSize) f.ext_desktop_size = true;
    if (e == rfb::kLastRect) f.last_rect = true;
    if (e == rfb::kCursor) f.cursor = true;
    if (e == rfb::kQemuExtendedKey) f.qemu_key = true;
    if (e == rfb::kFence) f.fence = true;
    if (e == rfb::kContinuousUpdates) f.cu = true;
    if (e == rfb::kOpenH264) f.h264 = true;
    if (e >= rfb::kJpegQuality0 && e <= rfb::kJpegQuality9) f.quality = e - rfb::kJpegQuality0;
    if (e >= rfb::kCompressLevel0 && e <= rfb::kCompressLevel9) f.compress = e - rfb::kCompressLevel0;
  }
  return f;
}

std::string ClientFeatures::describe() const {
  return fmt::format("{}{}{}{}", encoding_name(preferred),
                     quality >= 0 ? fmt::format(", JPEG for motion at level {}", quality) : "",
                     h264 ? ", H.264 for motion" : "", cu ? ", continuous updates" : "");
}

void ExtraRects::cursor(const CursorState& c, const PixelFormat& pf) {
  ++count;
  // Rich cursor: client pixels plus a 1-bit mask (alpha >= 128), rows padded to bytes.
  if (!c.image || !c.visible) {
    put_rect_header(bytes, Rect{0, 0, 0, 0}, rfb::kCursor);
    return;
  }
  const CursorImage& img = *c.image;
  put_rect_header(bytes, Rect{img.hot_x, img.hot_y, img.width, img.height}, rfb::kCursor);
  for (uint32_t argb : img.argb) pf.put(bytes, pf.pack(argb & 0xFFFFFFu));
  size_t row = size_t(img.width + 7) / 8;
  for (int y = 0; y < img.height; ++y) {
    size_t at = bytes.size();
    bytes.resize(at + row, 0);
    for (int x = 0; x < img.width; ++x)
      if (img.argb[size_t(y * img.width + x)] >> 24 >= 128) bytes[at + size_t(x / 8)] |= uint8_t(0x80 >> (x % 8));
  }
}

void ExtraRects::qemu_key_ack() {
  put_rect_header(bytes, Rect{0, 0, 0, 0}, rfb::kQemuExtendedKey);
  ++count;
}

UpdateWriter::UpdateWriter(std::shared_ptr<const EncoderCatalog> encoders, int video_bitrate_kbps)
    : catalog_(std::move(encoders)), video_bitrate_kbps_(video_bitrate_kbps) {}

UpdateWriter::~UpdateWriter() = default;

std::vector<uint8_t> UpdateWriter::extras_only(const ExtraRects& extra) {
  std::vector<uint8_t> out;
  put_update_header(out, uint16_t(extra.count));
  out.insert(out.end(), extra.bytes.begin(), extra.bytes.end());
  return out;
}

std::vector<uint8_t> UpdateWriter::desktop_size(bool ext, int reason, int status, Size size) {
  std::vector<uint8_t> out;
  put_update_header(out, 1);
  if (ext) {
    put_rect_header(out, Rect{reason, status, size.width, size.height}, rfb::kExtendedDesktopSize);
    BeWriter w;
    // Screen id 1: libvncclient ignores a layout whose screen id is 0.
    w.u8(1).zeros(3).u32(1).u16(0).u16(0).u16(uint16_t(size.width)).u16(uint16_t(size.height)).u32(0);
    auto b = w.take();
    out.insert(out.end(), b.begin(), b.end());
  } else {
    put_rect_header(out, Rect{0, 0, size.width, size.height}, rfb::kDesktopSize);
  }
  return out;
}

UpdateWriter::Update UpdateWriter::update(const Subscription::FrameUpdate& u, bool full, const ClientFeatures& f,
                                          Size told, const ExtraRects& extra) {
  auto& enc = encoders_[f.preferred];
  if (!enc) enc = make_encoder(f.preferred);
  const Frame& frame = *u.frame;
  Update res;
  if (frame.size() != told) {  // (the first take always says "resized": compare with what was told)
    if (!f.ext_desktop_size && !f.desktop_size)
      throw ProtocolError(fmt::format("the desktop changed to {}x{} and this client cannot follow a size change",
                                      frame.width(), frame.height()));
    res.resized = true;
    res.bytes = desktop_size(f.ext_desktop_size, 0, 0, frame.size());
    lossy_ = Region();
    if (video_) video_->reset();
    if (extra.count) {
      auto more = extras_only(extra);
      res.bytes.insert(res.bytes.end(), more.begin(), more.end());
    }
    return res;
  }
  std::vector<uint8_t>& out = res.bytes;
  put_update_header(out, 0);
  out.insert(out.end(), extra.bytes.begin(), extra.bytes.end());
  size_t nrects = extra.count;
  Region damage = u.damage;
  // Moves: CopyRect when the client keeps its framebuffer and the source holds exact pixels: not
  // lossy, and not the destination of an earlier move that had to be sent as damage.
  Region unsafe = lossy_;
  for (const Move& m : u.moves) {
    Region src_unsafe = unsafe;
    src_unsafe.intersect(Region(m.src()));
    if (!full && f.copyrect && src_unsafe.empty()) {
      Rect src = m.src();
      put_rect_header(out, m.dst, rfb::kCopyRect);
      BeWriter w;
      w.u16(uint16_t(src.x)).u16(uint16_t(src.y));
      auto b = w.take();
      out.insert(out.end(), b.begin(), b.end());
      ++nrects;
      ++copies_;
      lossy_.subtract(Region(m.dst));
      unsafe.subtract(Region(m.dst));
    } else {
      damage.add(m.dst);
      unsafe.add(m.dst);
    }
  }
  EncodeOptions plain;
  plain.compress_level = f.compress;
  Region motion = damage;
  motion.intersect(u.motion);
  Region still = damage;
  still.subtract(motion);
  bool jpeg = (f.preferred == rfb::kTight || f.preferred == rfb::kTightPng) && f.quality >= 0 && f.pf.bpp >= 16;
  // Motion: H.264 where the client decodes it, else Tight JPEG, else lossless like the rest.
  if (!motion.empty() && f.h264 && catalog_) {
    if (!video_) video_ = std::make_unique<H264Rects>(catalog_, video_bitrate_kbps_);
    size_t n = video_->encode(frame, u.motion_area, out);
    if (n) {
      nrects += n;
      h264_frames_ += n;
      Region area = video_->area();
      lossy_.add(area);
      // The frame covers its whole rect: what is not motion in it is repainted exact on top.
      Region edges = area;
      edges.subtract(u.motion_area);
      still.add(edges);
      motion.subtract(area);
    }
  } else if (video_ && u.motion_area.empty()) {
    // Motion ended: the rect's last frame is lossy everywhere; repaint it exact.
    Region area = video_->area();
    area.intersect(Region(frame.bounds()));
    still.add(area);
    video_->reset();
  }
  // Thousands of tiny rects cost more in headers than their bounding box in pixels.
  if (still.rects().size() > 4096) still = Region(still.bounds());
  for (const Rect& r : still.rects()) nrects += enc->encode(frame, r, f.pf, plain, out);
  lossy_.subtract(still);
  if (!motion.empty()) {
    EncodeOptions lossy = plain;
    lossy.lossy_ok = jpeg;
    lossy.jpeg_quality = f.quality;
    if (motion.rects().size() > 4096) motion = Region(motion.bounds());
    for (const Rect& r : motion.rects()) nrects += enc->encode(frame, r, f.pf, lossy, out);
    if (jpeg) {
      lossy_.add(motion);
      lossy_rects_ += motion.rects().size();
    }
  }
  if (nrects == 0) {
    out.clear();
    return res;
  }
  if (nrects > size_t(kMaxRectsPerUpdate)) {
    if (!f.last_rect) throw ProtocolError("an update needs more than 65534 rectangles and the client has no LastRect");
    put_rect_header(out, Rect{0, 0, 0, 0}, rfb::kLastRect);
    nrects = 0xFFFF;
  }
  out[2] = uint8_t(nrects >> 8);
  out[3] = uint8_t(nrects);
  ++updates_;
  bytes_ += out.size();
  return res;
}

}  // namespace tessera::vnc
