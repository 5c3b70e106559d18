#include "transport/vnc/vnc_connection.h"

#include <algorithm>
#include <utility>

#include "core/log.h"
#include "transport/input/keysym.h"
#include "transport/vnc/rfb_wire.h"

namespace tessera::vnc {

using net::ProtocolError;

namespace {

constexpr uint32_t kFenceRequest = 0x80000000u, kFenceKnown = 0x7;

// The connection's socket as the reader's byte source: no deadline between messages (a viewer
// may sit idle for hours; keepalive notices a dead one), the message timeout within one.
class SocketSource : public ByteSource {
 public:
  SocketSource(net::Socket& s, std::chrono::milliseconds timeout) : s_(s), timeout_(timeout) {}
  std::optional<uint8_t> next_type() override {
    uint8_t type;
    try {
      s_.read_exact(&type, 1, std::chrono::milliseconds(0), "message type");
    } catch (const net::PeerClosedError&) {
      return std::nullopt;
    }
    return type;
  }
  void read(uint8_t* out, size_t n, const char* what) override { s_.read_exact(out, n, timeout_, what); }

 private:
  net::Socket& s_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

VncConnection::VncConnection(const VncSettings& settings, FrameHub& hub, InputSink input,
                             std::unique_ptr<net::Socket> socket, int minor, std::string auth)
    : settings_(settings),
      hub_(hub),
      input_(std::move(input)),
      socket_(std::move(socket)),
      minor_(minor),
      auth_(std::move(auth)),
      writer_(settings.encoders, settings.video_bitrate_kbps) {}

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
  spdlog::info("{}: sent {} updates ({} bytes, {} copy-rects, {} lossy rects, {} H.264 frames)", tag(),
               writer_.updates(), writer_.bytes(), writer_.copies(), writer_.lossy_rects(), writer_.h264_frames());
}

void VncConnection::press(uint32_t evdev, bool down) {
  // Key codes are never logged, at any level: a password typed into the desktop would land in the log.
  if (!evdev) return;
  auto it = std::find(held_keys_.begin(), held_keys_.end(), evdev);
  if (down && it == held_keys_.end()) held_keys_.push_back(evdev);
  if (!down && it != held_keys_.end()) held_keys_.erase(it);
  input_(InputEvent{down ? InputEvent::Kind::KeyDown : InputEvent::Kind::KeyUp, evdev, 0, 0, 0, 0});
}

void VncConnection::key(uint32_t keysym, bool down) { press(input::keysym_to_evdev(keysym), down); }

void VncConnection::qemu_key(uint32_t keysym, uint32_t xt, bool down) {
  press(xt ? input::xt_to_evdev(xt) : input::keysym_to_evdev(keysym), down);
}

void VncConnection::pointer(uint8_t mask, uint16_t x, uint16_t y) {
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

void VncConnection::set_pixel_format(const PixelFormat& pf) {
  spdlog::debug("{}: pixel format {}", tag(), pf.describe());
  std::lock_guard lock(mu_);
  features_.pf = pf;
  cursor_dirty_ = true;
  sub_->request_full_frame();  // everything the client has is in the old format
}

void VncConnection::set_encodings(const std::vector<int32_t>& encs) {
  std::lock_guard lock(mu_);
  features_ = ClientFeatures::from_encodings(encs, features_.pf);
  std::string list;
  for (int32_t e : encs) list += (list.empty() ? "" : " ") + std::to_string(e);
  spdlog::debug("{}: encodings [{}]: sending {}", tag(), list, features_.describe());
  cursor_dirty_ = true;
  ack_qemu_key_ = features_.qemu_key;
  cv_.notify_all();
}

void VncConnection::update_request(bool incremental, const Rect&) {
  std::lock_guard lock(mu_);
  if (cu_enabled_ && incremental) return;  // continuous updates make incremental requests moot
  ++fur_seq_;
  if (!incremental) {
    fur_full_ = true;
    sub_->request_full_frame();
  }
  cv_.notify_all();
}

void VncConnection::cut_text(std::span<const uint8_t> text) {
  spdlog::debug("{}: clipboard text of {} bytes (no clipboard to put it in)", tag(), text.size());
}

void VncConnection::enable_continuous_updates(bool on, const Rect&) {
  std::lock_guard lock(mu_);
  if (!features_.cu) throw ProtocolError("EnableContinuousUpdates without the ContinuousUpdates encoding");
  cu_enabled_ = on;
  if (!cu_enabled_) queue_control(BeWriter().u8(rfb::kEndOfContinuousUpdates).take());
  spdlog::debug("{}: continuous updates {}", tag(), cu_enabled_ ? "on" : "off");
  cv_.notify_all();
}

void VncConnection::fence(uint32_t flags, std::span<const uint8_t> payload) {
  if (!(flags & kFenceRequest)) return;
  // Answered between updates, by the sender: everything before it is then on the wire.
  BeWriter w;
  w.u8(rfb::kServerFence).zeros(3).u32(flags & kFenceKnown).u8(uint8_t(payload.size())).bytes(payload);
  std::lock_guard lock(mu_);
  queue_control(w.take());
  cv_.notify_all();
}

void VncConnection::set_desktop_size(uint16_t, uint16_t, const std::vector<ScreenLayout>&) {
  std::lock_guard lock(mu_);
  desktop_size_reply_ = true;  // answered "prohibited": the source decides the size
  cv_.notify_all();
}

void VncConnection::read_loop() {
  SocketSource in(*socket_, settings_.message_timeout);
  ClientMessageLimits limits;
  limits.max_cut_text = settings_.max_cut_text;
  while (!closed_) {
    if (!read_client_message(in, *this, limits)) {
      if (!closed_) spdlog::info("{}: client disconnected", tag());  // between messages: done
      return;
    }
  }
}

bool VncConnection::send_update(Subscription::FrameUpdate& u, bool full, const ExtraRects& extra) {
  ClientFeatures f;
  Size told;
  {
    std::lock_guard lock(mu_);
    f = features_;
    told = size_;
  }
  UpdateWriter::Update out = writer_.update(u, full, f, told, extra);
  if (out.resized) {
    {
      std::lock_guard lock(mu_);
      size_ = u.frame->size();
    }
    sub_->request_full_frame();
  }
  if (out.bytes.empty()) return false;
  socket_->write_all(out.bytes);
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
    ExtraRects extra;
    PixelFormat pf;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(200), [&] {
        return closed_ || fur_seq_ > fur_answered_ || cu_enabled_ || !control_.empty() || desktop_size_reply_ ||
               (features_.fence && !sent_fence_) || (features_.cu && !sent_end_cu_);
      });
      if (closed_) return;
      if (features_.fence && !sent_fence_) {
        // Tells the client we speak fences (TigerVNC then turns on continuous updates).
        sent_fence_ = true;
        control_.push_back(BeWriter().u8(rfb::kServerFence).zeros(3).u32(kFenceRequest | kFenceKnown).u8(0).take());
      }
      if (features_.cu && !sent_end_cu_) {
        sent_end_cu_ = true;
        control_.push_back(BeWriter().u8(rfb::kEndOfContinuousUpdates).take());
      }
      control.swap(control_);
      ds_reply = std::exchange(desktop_size_reply_, false);
      ext = features_.ext_desktop_size;
      seq = fur_seq_;
      full = std::exchange(fur_full_, false);
      cu = cu_enabled_;
      cursor_wanted = features_.cursor;
      cursor_dirty = std::exchange(cursor_dirty_, false);
      pf = features_.pf;
      if (ack_qemu_key_) {
        ack_qemu_key_ = false;
        extra.qemu_key_ack();
      }
    }
    // Writes happen with no lock held: a stalled client blocks only this thread.
    for (const auto& m : control) socket_->write_all(m);
    Size told;
    {
      std::lock_guard lock(mu_);
      told = size_;
    }
    if (ds_reply && ext) socket_->write_all(UpdateWriter::desktop_size(true, 1, 1, told));  // "prohibited": the source decides
    if (seq <= fur_answered_ && !cu) {
      if (extra.count) {  // keep the acknowledgement for the next update
        std::lock_guard lock(mu_);
        ack_qemu_key_ = true;
      }
      continue;
    }
    if (full && ext) socket_->write_all(UpdateWriter::desktop_size(true, 0, 0, told));  // every full request gets the layout
    if (!hub_.latest()) {
      // Nothing captured yet: wait for the first frame rather than spin.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::lock_guard lock(mu_);
      fur_full_ = fur_full_ || full;
      ack_qemu_key_ = ack_qemu_key_ || extra.count;
      continue;
    }
    if (!full && !extra.count && !cursor_dirty && !sub_->wait(std::chrono::milliseconds(100))) continue;
    if (sub_->closed()) return;
    // The cursor's shape or visibility rides in the same update as the pixels.
    auto c = sub_->take_cursor();
    if (cursor_wanted) {
      CursorState cs = c ? *c : hub_.cursor().value_or(CursorState{});
      uint64_t serial = cs.image ? cs.image->serial : 0;
      bool visible = cs.image && cs.visible;
      if (cursor_dirty || serial != last_cursor_serial_ || visible != last_cursor_visible_) {
        extra.cursor(cs, pf);
        last_cursor_serial_ = serial;
        last_cursor_visible_ = visible;
      }
    }
    bool sent = false;
    if (auto u = sub_->take_frame()) {
      sent = send_update(*u, full, extra);
    }
    if (!sent && extra.count) {
      socket_->write_all(UpdateWriter::extras_only(extra));
      sent = true;
    }
    std::lock_guard lock(mu_);
    if (sent) fur_answered_ = std::max(fur_answered_, seq);
    else if (full) fur_full_ = true;  // try the full update again
  }
}

}  // namespace tessera::vnc
