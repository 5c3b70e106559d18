#include "transport/vnc/client_message_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "transport/vnc/rfb_wire.h"

namespace tessera::vnc {

std::optional<uint8_t> SpanSource::next_type() {
  if (at_ >= b_.size()) return std::nullopt;
  return b_[at_++];
}

void SpanSource::read(uint8_t* out, size_t n, const char* what) {
  if (n > b_.size() - at_)
    throw ProtocolError(fmt::format("the client left in the middle of {} ({} of {} bytes came)", what,
                                    b_.size() - at_, n));
  std::copy_n(b_.data() + at_, n, out);
  at_ += n;
}

namespace {

template <size_t N>
std::array<uint8_t, N> fixed(ByteSource& in, const char* what) {
  std::array<uint8_t, N> b;
  in.read(b.data(), N, what);
  return b;
}

Rect rect_at(BeReader& r) {
  int x = r.u16(), y = r.u16(), w = r.u16(), h = r.u16();
  return Rect{x, y, w, h};
}

void set_pixel_format(ByteSource& in, ClientMessageHandler& h) {
  auto b = fixed<19>(in, "SetPixelFormat");  // 3 padding, 16 format
  h.set_pixel_format(PixelFormat::parse(std::span<const uint8_t>(b).subspan(3)));
}

void set_encodings(ByteSource& in, ClientMessageHandler& h, const ClientMessageLimits& lim) {
  auto b = fixed<3>(in, "SetEncodings");
  size_t n = size_t(b[1]) << 8 | b[2];
  if (n > lim.max_encodings)
    throw ProtocolError(fmt::format("SetEncodings lists {} encodings (limit {})", n, lim.max_encodings));
  std::vector<uint8_t> raw(n * 4);
  if (n) in.read(raw.data(), raw.size(), "SetEncodings list");
  BeReader r(raw, "SetEncodings list");
  std::vector<int32_t> encs(n);
  for (auto& e : encs) e = r.s32();
  h.set_encodings(encs);
}

void update_request(ByteSource& in, ClientMessageHandler& h) {
  auto b = fixed<9>(in, "FramebufferUpdateRequest");
  BeReader r(std::span<const uint8_t>(b).subspan(1), "FramebufferUpdateRequest");
  h.update_request(b[0] != 0, rect_at(r));
}

void key_event(ByteSource& in, ClientMessageHandler& h) {
  auto b = fixed<7>(in, "KeyEvent");  // down, 2 padding, keysym
  h.key(BeReader(std::span<const uint8_t>(b).subspan(3), "KeyEvent").u32(), b[0] != 0);
}

void pointer_event(ByteSource& in, ClientMessageHandler& h) {
  auto b = fixed<5>(in, "PointerEvent");
  h.pointer(b[0], uint16_t(b[1] << 8 | b[2]), uint16_t(b[3] << 8 | b[4]));
}

void cut_text(ByteSource& in, ClientMessageHandler& h, const ClientMessageLimits& lim) {
  auto b = fixed<7>(in, "ClientCutText");  // 3 padding, length
  int32_t len = BeReader(std::span<const uint8_t>(b).subspan(3), "ClientCutText").s32();
  if (len < 0) throw ProtocolError("ClientCutText in the extended clipboard format, which was not negotiated");
  if (size_t(len) > lim.max_cut_text)
    throw ProtocolError(fmt::format("clipboard text of {} bytes (limit {})", len, lim.max_cut_text));
  std::vector<uint8_t> text(static_cast<size_t>(len));
  if (len) in.read(text.data(), text.size(), "ClientCutText text");
  h.cut_text(text);
}

void continuous_updates(ByteSource& in, ClientMessageHandler& h) {
  auto b = fixed<9>(in, "EnableContinuousUpdates");
  BeReader r(std::span<const uint8_t>(b).subspan(1), "EnableContinuousUpdates");
  h.enable_continuous_updates(b[0] != 0, rect_at(r));
}

void fence(ByteSource& in, ClientMessageHandler& h, const ClientMessageLimits& lim) {
  auto b = fixed<8>(in, "ClientFence");  // 3 padding, flags, length
  uint32_t flags = BeReader(std::span<const uint8_t>(b).subspan(3), "ClientFence").u32();
  uint8_t len = b[7];
  if (len > lim.max_fence_payload)
    throw ProtocolError(fmt::format("fence payload of {} bytes (limit {})", len, lim.max_fence_payload));
  std::vector<uint8_t> payload(len);
  if (len) in.read(payload.data(), len, "ClientFence payload");
  h.fence(flags, payload);
}

void set_desktop_size(ByteSource& in, ClientMessageHandler& h) {
  auto b = fixed<7>(in, "SetDesktopSize");  // padding, width, height, screens, padding
  uint16_t w = uint16_t(b[1] << 8 | b[2]), ht = uint16_t(b[3] << 8 | b[4]);
  uint8_t n = b[5];
  std::vector<uint8_t> raw(size_t(n) * 16);
  if (n) in.read(raw.data(), raw.size(), "SetDesktopSize screens");
  BeReader r(raw, "SetDesktopSize screens");
  std::vector<ScreenLayout> screens(n);
  for (auto& s : screens) {
    s.id = r.u32();
    s.area = rect_at(r);
    s.flags = r.u32();
  }
  h.set_desktop_size(w, ht, screens);
}

void qemu(ByteSource& in, ClientMessageHandler& h) {
  auto sub = fixed<1>(in, "QEMU message");
  if (sub[0] != 0) throw ProtocolError(fmt::format("QEMU client message subtype {} is not supported", sub[0]));
  auto b = fixed<10>(in, "QEMU extended key event");  // down (u16), keysym, XT code
  BeReader r(b, "QEMU extended key event");
  bool down = r.u16() != 0;
  uint32_t sym = r.u32(), xt = r.u32();
  h.qemu_key(sym, xt, down);
}

}  // namespace

bool read_client_message(ByteSource& in, ClientMessageHandler& h, const ClientMessageLimits& limits) {
  std::optional<uint8_t> type = in.next_type();
  if (!type) return false;
  switch (*type) {
    case rfb::kSetPixelFormat: set_pixel_format(in, h); break;
    case rfb::kSetEncodings: set_encodings(in, h, limits); break;
    case rfb::kFramebufferUpdateRequest: update_request(in, h); break;
    case rfb::kKeyEvent: key_event(in, h); break;
    case rfb::kPointerEvent: pointer_event(in, h); break;
    case rfb::kClientCutText: cut_text(in, h, limits); break;
    case rfb::kEnableContinuousUpdates: continuous_updates(in, h); break;
    case rfb::kClientFence: fence(in, h, limits); break;
    case rfb::kSetDesktopSize: set_desktop_size(in, h); break;
    case rfb::kQemu: qemu(in, h); break;
    default:
      throw ProtocolError(fmt::format("unknown message type {} (the stream cannot be parsed further)", *type));
  }
  return true;
}

}  // namespace tessera::vnc
