#include "transport/vnc/vnc_connection.h"

#include <algorithm>
#include <utility>

#include "core/log.h"
#include "transport/input/keysym.h"
#include "transport/vnc/h264_rects.h"
#include "transport/vnc/rfb_wire.h"

namespace tessera::vnc {

using net::ProtocolError;

// What the client said it can do in its last SetEncodings (each one resets all of it).
struct VncConnection::Features {
  PixelFormat pf = PixelFormat::server_native();
  int32_t preferred = rfb::kRaw;
  bool copyrect = false, desktop_size = false, ext_desktop_size = false, last_rect = false, cursor = false;
  bool qemu_key = false, fence = false, cu = false, h264 = false;
  int quality = -1, compress = 6;
  bool pf_changed = true, cursor_dirty = true;
  bool sent_fence = false, sent_end_cu = false;
};

namespace {

constexpr size_t kMaxEncodings = 1024;
constexpr uint32_t kFenceRequest = 0x80000000u, kFenceKnown = 0x7;
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

void put_update_header(std::vector<uint8_t>& out, uint16_t nrects) {
  out.push_back(rfb::kFramebufferUpdate);
  out.push_back(0);
  out.push_back(uint8_t(nrects >> 8));
  out.push_back(uint8_t(nrects));
}

}  // namespace

VncConnection::VncConnection(const VncSettings& settings, FrameHub& hub, InputSink input,
                             std::unique_ptr<net::Socket> socket, int minor, std::string auth)
    : settings_(settings),
      hub_(hub),
      input_(std::move(input)),
      socket_(std::move(socket)),
      minor_(minor),
      auth_(std::move(auth)),
      f_(std::make_unique<Features>()) {}

VncConnection::~VncConnection() = default;

std::string VncConnection::tag() const { return "vnc " + socket_->peer(); }

void VncConnection::close() {
  if (!closed_.exchange(true)) {
    socket_->shutdown();
    if (sub_) sub_->close();
    cv_.notify_all();
  }
}

void VncConnection::run() {
  std::thread sender;
  try {
    uint8_t shared = 0;
    socket_->read_exact(&shared, 1, settings_.message_timeout, "ClientInit");
    // Every client shares the desktop: an exclusive request does not disconnect the others.
    FramePtr frame = hub_.latest();
    Size s = frame ? frame->size() : Size{640, 480};
    if (s.width > 65535 || s.height > 65535)
      throw ProtocolError(fmt::format("the desktop is {}x{}, larger than RFB can describe", s.width, s.height));
    {
      std::lock_guard lock(mu_);
      size_ = s;
    }
    BeWriter w;
    w.u16(uint16_t(s.width)).u16(uint16_t(s.height));
    PixelFormat::server_native().write(w.buffer());
    w.u32(uint32_t(settings_.name.size())).str(settings_.name);
    socket_->set_send_timeout(settings_.send_timeout);
    socket_->write_all(w.take());
    spdlog::info("{}: client connected (RFB 3.{}, {}, {})", tag(), minor_, auth_,
                 shared ? "shared" : "asked for exclusive; sharing anyway");
    sub_ = hub_.subscribe();
    sub_->request_full_frame();
    sender = std::thread([this] {
      try {
        send_loop();
      } catch (const ProtocolError& e) {
        if (!closed_) spdlog::warn("{}: {}; closing the connection", tag(), e.what());
      } catch (const std::exception& e) {
        if (!closed_) spdlog::error("{}: internal error while sending: {}; closing the connection", tag(), e.what());
      }
      close();
    });
    read_loop();
  } catch (const ProtocolError& e) {
    if (!closed_) spdlog::warn("{}: {}; closing the connection", tag(), e.what());
  } catch (const std::exception& e) {
    if (!closed_) spdlog::error("{}: internal error: {}; closing the connection", tag(), e.what());
  }
  close();
  if (sender.joinable()) sender.join();
  // Nothing stays pressed on the host when a client drops mid-keystroke or mid-drag.
  for (uint32_t k : held_keys_) input_(InputEvent{InputEvent::Kind::KeyUp, k, 0, 0, 0, 0});
  for (int b = 0; b < 8; ++b)
    if (buttons_ >> b & 1) input_(InputEvent{InputEvent::Kind::ButtonUp, 0, 0, 0, uint32_t(b + 1), 0});
  spdlog::info("{}: sent {} updates ({} bytes, {} copy-rects, {} lossy rects, {} H.264 frames)", tag(), updates_,
               bytes_, copies_, lossy_rects_, h264_frames_);
}

void VncConnection::key(uint32_t evdev, bool down) {
  // Key codes are never logged, at any level: a password typed into the desktop would land in the log.
  if (!evdev) return;
  auto it = std::find(held_keys_.begin(), held_keys_.end(), evdev);
  if (down && it == held_keys_.end()) held_keys_.push_back(evdev);
  if (!down && it != held_keys_.end()) held_keys_.erase(it);
  input_(InputEvent{down ? InputEvent::Kind::KeyDown : InputEvent::Kind::KeyUp, evdev, 0, 0, 0, 0});
}

void VncConnection::handle_pointer(uint8_t mask, uint16_t x, uint16_t y) {
  Size s;
  {
    std::lock_guard lock(mu_);
    s = size_;
  }
  int cx = std::min<int>(x, std::max(0, s.width - 1)), cy = std::min<int>(y, std::max(0, s.height - 1));
  spdlog::trace("{}: pointer {},{} buttons {:#x}", tag(), cx, cy, mask);
  input_(InputEvent{InputEvent::Kind::PointerMove, 0, cx, cy, 0, mask});
  for (int b = 0; b < 8; ++b) {
    bool was = buttons_ >> b & 1, now = mask >> b & 1;
    if (was == now) continue;
    input_(InputEvent{now ? InputEvent::Kind::ButtonDown : InputEvent::Kind::ButtonUp, 0, cx, cy, uint32_t(b + 1),
                      mask});
  }
  buttons_ = mask;
}

void VncConnection::handle_set_encodings(const std::vector<int32_t>& encs) {
  std::lock_guard lock(mu_);
  Features& f = *f_;
  bool sent_fence = f.sent_fence, sent_end_cu = f.sent_end_cu;
  PixelFormat pf = f.pf;
  f = Features{};
  f.pf = pf;
  f.sent_fence = sent_fence;
  f.sent_end_cu = sent_end_cu;
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
  std::string list;
  for (int32_t e : encs) list += (list.empty() ? "" : " ") + std::to_string(e);
  spdlog::debug("{}: encodings [{}]: sending {}{}{}{}", tag(), list, encoding_name(f.preferred),
                f.quality >= 0 ? fmt::format(", JPEG for motion at level {}", f.quality) : "",
                f.h264 ? ", H.264 for motion" : "", f.cu ? ", continuous updates" : "");
  f.cursor_dirty = true;
  ack_qemu_key_ = f.qemu_key;
  cv_.notify_all();
}

void VncConnection::read_loop() {
  const auto idle = std::chrono::milliseconds(0);
  while (!closed_) {
    uint8_t type;
    try {
      socket_->read_exact(&type, 1, idle, "message type");
    } catch (const net::PeerClosedError&) {
      if (!closed_) spdlog::info("{}: client disconnected", tag());  // between messages: done
      return;
    }
    const auto t = settings_.message_timeout;
    switch (type) {
      case rfb::kSetPixelFormat: {
        uint8_t b[19];
        socket_->read_exact(b, sizeof b, t, "SetPixelFormat");
        PixelFormat pf = PixelFormat::parse(std::span<const uint8_t>(b + 3, 16));
        spdlog::debug("{}: pixel format {}", tag(), pf.describe());
        std::lock_guard lock(mu_);
        f_->pf = pf;
        f_->pf_changed = true;
        f_->cursor_dirty = true;
        sub_->request_full_frame();  // everything the client has is in the old format
        break;
      }
      case rfb::kSetEncodings: {
        uint8_t b[3];
        socket_->read_exact(b, 3, t, "SetEncodings");
        size_t n = size_t(b[1]) << 8 | b[2];
        if (n > kMaxEncodings)
          throw ProtocolError(fmt::format("SetEncodings lists {} encodings (limit {})", n, kMaxEncodings));
        std::vector<uint8_t> raw(n * 4);
        if (n) socket_->read_exact(raw.data(), raw.size(), t, "SetEncodings list");
        BeReader r(raw, "SetEncodings list");
        std::vector<int32_t> encs;
        for (size_t i = 0; i < n; ++i) encs.push_back(r.s32());
        handle_set_encodings(encs);
        break;
      }
      case rfb::kFramebufferUpdateRequest: {
        uint8_t b[9];
        socket_->read_exact(b, sizeof b, t, "FramebufferUpdateRequest");
        std::lock_guard lock(mu_);
        if (cu_enabled_ && b[0]) break;  // continuous updates make incremental requests moot
        ++fur_seq_;
        if (!b[0]) {
          fur_full_ = true;
          sub_->request_full_frame();
        }
        cv_.notify_all();
        break;
      }
      case rfb::kKeyEvent: {
        uint8_t b[7];
        socket_->read_exact(b, sizeof b, t, "KeyEvent");
        uint32_t sym = BeReader(std::span<const uint8_t>(b + 3, 4), "KeyEvent").u32();
        key(input::keysym_to_evdev(sym), b[0] != 0);
        break;
      }
      case rfb::kPointerEvent: {
        uint8_t b[5];
        socket_->read_exact(b, sizeof b, t, "PointerEvent");
        handle_pointer(b[0], uint16_t(b[1] << 8 | b[2]), uint16_t(b[3] << 8 | b[4]));
        break;
      }
      case rfb::kClientCutText: {
        uint8_t b[7];
        socket_->read_exact(b, sizeof b, t, "ClientCutText");
        int32_t len = BeReader(std::span<const uint8_t>(b + 3, 4), "ClientCutText").s32();
        if (len < 0) throw ProtocolError("ClientCutText in the extended clipboard format, which was not negotiated");
        if (size_t(len) > settings_.max_cut_text)
          throw ProtocolError(fmt::format("clipboard text of {} bytes (limit {})", len, settings_.max_cut_text));
        std::vector<uint8_t> text(static_cast<size_t>(len));
        if (len) socket_->read_exact(text.data(), text.size(), t, "ClientCutText text");
        spdlog::debug("{}: clipboard text of {} bytes (no clipboard to put it in)", tag(), len);
        break;
      }
      case rfb::kEnableContinuousUpdates: {
        uint8_t b[9];
        socket_->read_exact(b, sizeof b, t, "EnableContinuousUpdates");
        std::lock_guard lock(mu_);
        if (!f_->cu) throw ProtocolError("EnableContinuousUpdates without the ContinuousUpdates encoding");
        cu_enabled_ = b[0] != 0;
        if (!cu_enabled_) queue_control(BeWriter().u8(rfb::kEndOfContinuousUpdates).take());
        spdlog::debug("{}: continuous updates {}", tag(), cu_enabled_ ? "on" : "off");
        cv_.notify_all();
        break;
      }
      case rfb::kClientFence: {
        uint8_t b[8];
        socket_->read_exact(b, sizeof b, t, "ClientFence");
        uint32_t flags = BeReader(std::span<const uint8_t>(b + 3, 4), "ClientFence").u32();
        uint8_t len = b[7];
        if (len > 64) throw ProtocolError(fmt::format("fence payload of {} bytes (limit 64)", len));
        std::vector<uint8_t> payload(len);
        if (len) socket_->read_exact(payload.data(), len, t, "ClientFence payload");
        if (flags & kFenceRequest) {
          // Answered between updates, by the sender: everything before it is then on the wire.
          BeWriter w;
          w.u8(rfb::kServerFence).zeros(3).u32(flags & kFenceKnown).u8(len).bytes(payload);
          std::lock_guard lock(mu_);
          queue_control(w.take());
          cv_.notify_all();
        }
        break;
      }
      case rfb::kSetDesktopSize: {
        uint8_t b[7];
        socket_->read_exact(b, sizeof b, t, "SetDesktopSize");
        uint8_t screens = b[5];
        std::vector<uint8_t> skip(size_t(screens) * 16);
        if (screens) socket_->read_exact(skip.data(), skip.size(), t, "SetDesktopSize screens");
        std::lock_guard lock(mu_);
        desktop_size_reply_ = true;  // answered "prohibited": the source decides the size
        cv_.notify_all();
        break;
      }
      case rfb::kQemu: {
        uint8_t sub;
        socket_->read_exact(&sub, 1, t, "QEMU message");
        if (sub != 0) throw ProtocolError(fmt::format("QEMU client message subtype {} is not supported", sub));
        uint8_t b[10];
        socket_->read_exact(b, sizeof b, t, "QEMU extended key event");
        BeReader r(b, "QEMU extended key event");
        bool down = r.u16() != 0;
        uint32_t sym = r.u32(), xt = r.u32();
        uint32_t code = xt ? input::xt_to_evdev(xt) : input::keysym_to_evdev(sym);
        key(code, down);
        break;
      }
      default:
        throw ProtocolError(fmt::format("unknown message type {} (the stream cannot be parsed further)", type));
    }
  }
}

void VncConnection::send_desktop_size(bool ext, int reason, int status, Size size) {
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
  socket_->write_all(out);
}

void VncConnection::put_cursor_rect(const CursorState& c, const PixelFormat& pf, std::vector<uint8_t>& out) const {
  // Rich cursor: client pixels plus a 1-bit mask (alpha >= 128), rows padded to bytes.
  if (!c.image || !c.visible) {
    put_rect_header(out, Rect{0, 0, 0, 0}, rfb::kCursor);
    return;
  }
  const CursorImage& img = *c.image;
  put_rect_header(out, Rect{img.hot_x, img.hot_y, img.width, img.height}, rfb::kCursor);
  for (uint32_t argb : img.argb) pf.put(out, pf.pack(argb & 0xFFFFFFu));
  size_t row = size_t(img.width + 7) / 8;
  for (int y = 0; y < img.height; ++y) {
    size_t at = out.size();
    out.resize(at + row, 0);
    for (int x = 0; x < img.width; ++x)
      if (img.argb[size_t(y * img.width + x)] >> 24 >= 128) out[at + size_t(x / 8)] |= uint8_t(0x80 >> (x % 8));
  }
}

bool VncConnection::send_update(Subscription::FrameUpdate& u, bool full, const std::vector<uint8_t>& extra,
                                size_t nextra) {
  Features f;
  Size told;
  {
    std::lock_guard lock(mu_);
    f = *f_;
    f_->pf_changed = false;
    told = size_;
  }
  auto& enc = encoders_[f.preferred];
  if (!enc) enc = make_encoder(f.preferred);
  const Frame& frame = *u.frame;
  if (frame.size() != told) {  // (the first take always says "resized": compare with what was told)
    if (!f.ext_desktop_size && !f.desktop_size)
      throw ProtocolError(fmt::format("the desktop changed to {}x{} and this client cannot follow a size change",
                                      frame.width(), frame.height()));
    {
      std::lock_guard lock(mu_);
      size_ = frame.size();
    }
    send_desktop_size(f.ext_desktop_size, 0, 0, frame.size());
    lossy_ = Region();
    if (video_) video_->reset();
    sub_->request_full_frame();
    if (nextra) {
      std::vector<uint8_t> out;
      put_update_header(out, uint16_t(nextra));
      out.insert(out.end(), extra.begin(), extra.end());
      socket_->write_all(out);
    }
    return true;
  }
  std::vector<uint8_t> out;
  put_update_header(out, 0);
  out.insert(out.end(), extra.begin(), extra.end());
  size_t nrects = nextra;
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
  if (!motion.empty() && f.h264 && settings_.encoders) {
    if (!video_) video_ = std::make_unique<H264Rects>(settings_.encoders, settings_.video_bitrate_kbps);
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
  if (nrects == 0) return false;
  if (nrects > size_t(kMaxRectsPerUpdate)) {
    if (!f.last_rect) throw ProtocolError("an update needs more than 65534 rectangles and the client has no LastRect");
    put_rect_header(out, Rect{0, 0, 0, 0}, rfb::kLastRect);
    nrects = 0xFFFF;
  }
  out[2] = uint8_t(nrects >> 8);
  out[3] = uint8_t(nrects);
  socket_->write_all(out);
  ++updates_;
  bytes_ += out.size();
  return true;
}

void VncConnection::queue_control(std::vector<uint8_t> message) {
  // A client that asks for replies (fences) but never reads them would grow this without end.
  if (control_.size() >= settings_.max_control_messages)
    throw ProtocolError(fmt::format("the client does not read its replies: {} control messages (fence replies) "
                                    "waiting to be sent (limit {})",
                                    control_.size(), settings_.max_control_messages));
  control_.push_back(std::move(message));
}

void VncConnection::send_loop() {
  while (!closed_) {
    uint64_t seq;
    bool full, cu, ds_reply, ext, cursor_wanted, cursor_dirty;
    std::vector<std::vector<uint8_t>> control;
    std::vector<uint8_t> extra;
    size_t nextra = 0;
    PixelFormat pf;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(200), [&] {
        return closed_ || fur_seq_ > fur_answered_ || cu_enabled_ || !control_.empty() || desktop_size_reply_ ||
               (f_->fence && !f_->sent_fence) || (f_->cu && !f_->sent_end_cu);
      });
      if (closed_) return;
      if (f_->fence && !f_->sent_fence) {
        // Tells the client we speak fences (TigerVNC then turns on continuous updates).
        f_->sent_fence = true;
        control_.push_back(BeWriter().u8(rfb::kServerFence).zeros(3).u32(kFenceRequest | kFenceKnown).u8(0).take());
      }
      if (f_->cu && !f_->sent_end_cu) {
        f_->sent_end_cu = true;
        control_.push_back(BeWriter().u8(rfb::kEndOfContinuousUpdates).take());
      }
      control.swap(control_);
      ds_reply = std::exchange(desktop_size_reply_, false);
      ext = f_->ext_desktop_size;
      seq = fur_seq_;
      full = std::exchange(fur_full_, false);
      cu = cu_enabled_;
      cursor_wanted = f_->cursor;
      cursor_dirty = f_->cursor_dirty;
      f_->cursor_dirty = false;
      pf = f_->pf;
      if (ack_qemu_key_) {
        ack_qemu_key_ = false;
        put_rect_header(extra, Rect{0, 0, 0, 0}, rfb::kQemuExtendedKey);
        ++nextra;
      }
    }
    // Writes happen with no lock held: a stalled client blocks only this thread.
    for (const auto& m : control) socket_->write_all(m);
    Size told;
    {
      std::lock_guard lock(mu_);
      told = size_;
    }
    if (ds_reply && ext) send_desktop_size(true, 1, 1, told);  // "prohibited": the source decides
    if (seq <= fur_answered_ && !cu) {
      if (nextra) {  // keep the acknowledgement for the next update
        std::lock_guard lock(mu_);
        ack_qemu_key_ = true;
      }
      continue;
    }
    if (full && ext) send_desktop_size(true, 0, 0, told);  // every full request gets the layout
    if (!hub_.latest()) {
      // Nothing captured yet: wait for the first frame rather than spin.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::lock_guard lock(mu_);
      fur_full_ = fur_full_ || full;
      ack_qemu_key_ = ack_qemu_key_ || nextra;
      continue;
    }
    if (!full && !nextra && !cursor_dirty && !sub_->wait(std::chrono::milliseconds(100))) continue;
    if (sub_->closed()) return;
    // The cursor's shape or visibility rides in the same update as the pixels.
    auto c = sub_->take_cursor();
    if (cursor_wanted) {
      CursorState cs = c ? *c : hub_.cursor().value_or(CursorState{});
      uint64_t serial = cs.image ? cs.image->serial : 0;
      bool visible = cs.image && cs.visible;
      if (cursor_dirty || serial != last_cursor_serial_ || visible != last_cursor_visible_) {
        put_cursor_rect(cs, pf, extra);
        ++nextra;
        last_cursor_serial_ = serial;
        last_cursor_visible_ = visible;
      }
    }
    bool sent = false;
    if (auto u = sub_->take_frame()) {
      sent = send_update(*u, full, extra, nextra);
    }
    if (!sent && nextra) {
      std::vector<uint8_t> out;
      put_update_header(out, uint16_t(nextra));
      out.insert(out.end(), extra.begin(), extra.end());
      socket_->write_all(out);
      sent = true;
    }
    std::lock_guard lock(mu_);
    if (sent) fur_answered_ = std::max(fur_answered_, seq);
    else if (full) fur_full_ = true;  // try the full update again
  }
}

}  // namespace tessera::vnc
