// libFuzzer: every RFB client message after ServerInit, read as VncConnection reads them. Each
// SetPixelFormat or SetEncodings is then served: an update of a small frame with a move, motion
// and a cursor in the client's encoding and pixel format, so hostile formats reach every encoder.
// Any bytes: no crash, only ProtocolError.
#include <cstdint>
#include <memory>

#include "core/cursor.h"
#include "transport/vnc/client_message_reader.h"
#include "transport/vnc/rfb_wire.h"
#include "transport/vnc/update_writer.h"

using namespace tessera;
using namespace tessera::vnc;

namespace {

constexpr Size kSize{37, 23};

FramePtr test_frame() {
  auto f = std::make_shared<Frame>(kSize.width, kSize.height);
  uint32_t seed = 0x9e3779b9u;
  for (int y = 0; y < kSize.height; ++y)
    for (int x = 0; x < kSize.width; ++x) {
      seed = seed * 1664525u + 1013904223u;
      // Flat areas, two-colour text-like rows and noise: each encoder's sub-paths.
      uint32_t v = x < 12 ? 0x00204080u : y % 3 ? (x & 1 ? 0x00ffffffu : 0) : seed >> 8;
      f->set_pixel(x, y, v);
    }
  return f;
}

struct Serve : ClientMessageHandler {
  ClientFeatures features;
  UpdateWriter writer{nullptr, 0};
  int served = 0;

  void serve() {
    if (++served > 12) return;  // enough to reach every encoder; keeps each input fast
    static const FramePtr frame = test_frame();
    Subscription::FrameUpdate u;
    u.frame = frame;
    u.damage = Region(Rect{0, 0, kSize.width, 9});
    u.damage.add(Rect{20, 12, 17, 11});
    u.motion = Region(Rect{20, 12, 17, 11});
    u.motion_area = u.motion;
    u.moves = {Move{Rect{2, 12, 10, 8}, 0, 10}};
    ExtraRects extra;
    extra.cursor(CursorState{default_arrow_cursor(), 1, 1, true}, features.pf);
    auto out = writer.update(u, served == 1, features, kSize, extra);
    if (out.bytes.size() < 4 || out.bytes[0] != rfb::kFramebufferUpdate) __builtin_trap();
  }
  void set_pixel_format(const PixelFormat& pf) override {
    features.pf = pf;
    serve();
  }
  void set_encodings(const std::vector<int32_t>& e) override {
    features = ClientFeatures::from_encodings(e, features.pf);
    serve();
  }
  void update_request(bool, const Rect&) override {}
  void key(uint32_t, bool) override {}
  void pointer(uint8_t, uint16_t, uint16_t) override {}
  void cut_text(std::span<const uint8_t> t) override {
    if (t.size() > (1u << 20)) __builtin_trap();
  }
  void enable_continuous_updates(bool, const Rect&) override {}
  void fence(uint32_t, std::span<const uint8_t> p) override {
    if (p.size() > 64) __builtin_trap();
  }
  void set_desktop_size(uint16_t, uint16_t, const std::vector<ScreenLayout>& s) override {
    if (s.size() > 255) __builtin_trap();
  }
  void qemu_key(uint32_t, uint32_t, bool) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Serve h;
  SpanSource in(std::span<const uint8_t>(data, size));
  try {
    while (read_client_message(in, h)) {
    }
  } catch (const ProtocolError&) {
  }
  if (in.consumed() > size) __builtin_trap();
  return 0;
}
