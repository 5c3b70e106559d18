// The RFB client-message reader and the update writer, over bytes: no socket.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "transport/vnc/client_message_reader.h"
#include "transport/vnc/rfb_wire.h"
#include "transport/vnc/update_writer.h"

using namespace tessera;
using namespace tessera::vnc;

namespace {

// Records every call as one line.
struct Recorder : ClientMessageHandler {
  std::vector<std::string> calls;
  void set_pixel_format(const PixelFormat& pf) override { calls.push_back("pf " + pf.describe()); }
  void set_encodings(const std::vector<int32_t>& e) override {
    std::string s = "enc";
    for (int32_t v : e) s += " " + std::to_string(v);
    calls.push_back(s);
  }
  void update_request(bool inc, const Rect& r) override {
    calls.push_back(fmt::format("fur {} {},{} {}x{}", inc, r.x, r.y, r.width, r.height));
  }
  void key(uint32_t sym, bool down) override { calls.push_back(fmt::format("key {:#x} {}", sym, down)); }
  void pointer(uint8_t b, uint16_t x, uint16_t y) override { calls.push_back(fmt::format("ptr {} {},{}", b, x, y)); }
  void cut_text(std::span<const uint8_t> t) override {
    calls.push_back("cut " + std::string(t.begin(), t.end()));
  }
  void enable_continuous_updates(bool on, const Rect& r) override {
    calls.push_back(fmt::format("cu {} {}x{}", on, r.width, r.height));
  }
  void fence(uint32_t flags, std::span<const uint8_t> p) override {
    calls.push_back(fmt::format("fence {:#x} {}", flags, p.size()));
  }
  void set_desktop_size(uint16_t w, uint16_t h, const std::vector<ScreenLayout>& s) override {
    std::string line = fmt::format("size {}x{}", w, h);
    for (const auto& sc : s) line += fmt::format(" [{} {}x{}+{}+{}]", sc.id, sc.area.width, sc.area.height, sc.area.x,
                                                 sc.area.y);
    calls.push_back(line);
  }
  void qemu_key(uint32_t sym, uint32_t xt, bool down) override {
    calls.push_back(fmt::format("qkey {:#x} {} {}", sym, xt, down));
  }
};

std::vector<std::string> read_all(const std::vector<uint8_t>& bytes, const ClientMessageLimits& lim = {}) {
  Recorder r;
  SpanSource src(bytes);
  while (read_client_message(src, r, lim)) {
  }
  return r.calls;
}

std::string error_of(const std::vector<uint8_t>& bytes, const ClientMessageLimits& lim = {}) {
  try {
    read_all(bytes, lim);
  } catch (const ProtocolError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(RfbClientMessages, EveryMessageBecomesItsTypedCall) {
  BeWriter w;
  w.u8(rfb::kSetPixelFormat).zeros(3).u8(16).u8(16).u8(0).u8(1).u16(31).u16(63).u16(31).u8(11).u8(5).u8(0).zeros(3);
  w.u8(rfb::kSetEncodings).u8(0).u16(3).s32(rfb::kTight).s32(rfb::kCopyRect).s32(rfb::kJpegQuality0 + 8);
  w.u8(rfb::kFramebufferUpdateRequest).u8(1).u16(1).u16(2).u16(300).u16(200);
  w.u8(rfb::kKeyEvent).u8(1).zeros(2).u32(0xff0d);
  w.u8(rfb::kPointerEvent).u8(5).u16(10).u16(20);
  w.u8(rfb::kClientCutText).zeros(3).u32(5).str("hello");
  w.u8(rfb::kEnableContinuousUpdates).u8(1).u16(0).u16(0).u16(640).u16(480);
  w.u8(rfb::kClientFence).zeros(3).u32(0x80000002u).u8(4).u32(0xdeadbeef);
  w.u8(rfb::kSetDesktopSize).u8(0).u16(800).u16(600).u8(1).u8(0).u32(7).u16(0).u16(0).u16(800).u16(600).u32(0);
  w.u8(rfb::kQemu).u8(0).u16(1).u32(0x61).u32(0x1e);
  auto calls = read_all(w.take());
  std::vector<std::string> want = {
      "pf 16 bpp depth 16 LE R5@11 G6@5 B5@0",
      "enc 7 1 -24",
      "fur true 1,2 300x200",
      "key 0xff0d true",
      "ptr 5 10,20",
      "cut hello",
      "cu true 640x480",
      "fence 0x80000002 4",
      "size 800x600 [7 800x600+0+0]",
      "qkey 0x61 30 true",
  };
  EXPECT_EQ(calls, want);
}

TEST(RfbClientMessages, AStreamEndsCleanlyOnlyBetweenMessages) {
  EXPECT_TRUE(read_all({}).empty());
  std::vector<uint8_t> key = BeWriter().u8(rfb::kKeyEvent).u8(1).zeros(2).u32(0x61).take();
  EXPECT_EQ(read_all(key).size(), 1u);
  for (size_t cut = 1; cut < key.size(); ++cut) {
    std::vector<uint8_t> part(key.begin(), key.begin() + long(cut));
    EXPECT_NE(error_of(part).find("in the middle of KeyEvent"), std::string::npos) << cut;
  }
}

TEST(RfbClientMessages, LengthsAreCheckedBeforeAnythingIsRead) {
  ClientMessageLimits lim;
  lim.max_cut_text = 100;
  // Each claims more than its limit and sends nothing after: the error names the limit, not a short read.
  EXPECT_EQ(error_of(BeWriter().u8(rfb::kSetEncodings).u8(0).u16(1025).take()),
            "SetEncodings lists 1025 encodings (limit 1024)");
  EXPECT_EQ(error_of(BeWriter().u8(rfb::kClientCutText).zeros(3).u32(101).take(), lim),
            "clipboard text of 101 bytes (limit 100)");
  EXPECT_EQ(error_of(BeWriter().u8(rfb::kClientCutText).zeros(3).s32(-8).take()),
            "ClientCutText in the extended clipboard format, which was not negotiated");
  EXPECT_EQ(error_of(BeWriter().u8(rfb::kClientFence).zeros(3).u32(0).u8(65).take()),
            "fence payload of 65 bytes (limit 64)");
  EXPECT_EQ(error_of(BeWriter().u8(rfb::kQemu).u8(2).take()), "QEMU client message subtype 2 is not supported");
  EXPECT_EQ(error_of(BeWriter().u8(77).take()), "unknown message type 77 (the stream cannot be parsed further)");
  EXPECT_NE(error_of(BeWriter().u8(rfb::kSetPixelFormat).zeros(3).u8(24).zeros(15).take()).find("24 bits per pixel"),
            std::string::npos);
  // SetDesktopSize with 255 screens announced and 1 sent: a short read of the screens, nothing more.
  std::vector<uint8_t> sds = BeWriter().u8(rfb::kSetDesktopSize).u8(0).u16(8).u16(8).u8(255).u8(0).zeros(16).take();
  EXPECT_NE(error_of(sds).find("SetDesktopSize screens"), std::string::npos);
}

namespace {

FramePtr frame_with(int w, int h, uint32_t bg) {
  auto f = std::make_shared<Frame>(w, h);
  f->fill(Rect{0, 0, w, h}, bg);
  return f;
}

uint16_t rect_count(const std::vector<uint8_t>& u) { return uint16_t(u[2] << 8 | u[3]); }

}  // namespace

TEST(RfbUpdateWriter, DamageGoesInTheClientsEncodingAndMovesAsCopyRect) {
  UpdateWriter w(nullptr, 0);
  ClientFeatures f = ClientFeatures::from_encodings({rfb::kCopyRect, rfb::kRaw}, PixelFormat::server_native());
  Subscription::FrameUpdate u;
  u.frame = frame_with(64, 32, 0x00112233);
  u.damage = Region(Rect{0, 0, 8, 4});
  u.moves = {Move{Rect{32, 0, 16, 16}, 0, 16}};
  auto out = w.update(u, false, f, Size{64, 32}, {});
  ASSERT_FALSE(out.resized);
  ASSERT_GE(out.bytes.size(), 4u);
  EXPECT_EQ(out.bytes[0], rfb::kFramebufferUpdate);
  EXPECT_EQ(rect_count(out.bytes), 2);
  // CopyRect first (12-byte header, then the source), then the raw rect: 8x4 pixels of 4 bytes.
  BeReader r(out.bytes, "update");
  r.skip(4);
  EXPECT_EQ(r.u16(), 32);
  EXPECT_EQ(r.u16(), 0);
  EXPECT_EQ(r.u16(), 16);
  EXPECT_EQ(r.u16(), 16);
  EXPECT_EQ(r.s32(), rfb::kCopyRect);
  EXPECT_EQ(r.u16(), 0);
  EXPECT_EQ(r.u16(), 16);
  r.skip(8);
  EXPECT_EQ(r.s32(), rfb::kRaw);
  r.skip(8 * 4 * 4);
  EXPECT_EQ(out.bytes.size(), 4u + 12 + 4 + 12 + 8 * 4 * 4);
  EXPECT_EQ(w.copies(), 1u);
  // A full request paints the move's destination instead: the client may have nothing to copy from.
  auto full = w.update(u, true, f, Size{64, 32}, {});
  EXPECT_EQ(w.copies(), 1u);
  Region painted = u.damage;
  painted.add(Rect{32, 0, 16, 16});
  EXPECT_EQ(rect_count(full.bytes), painted.rects().size());
  // Nothing changed: nothing to send.
  Subscription::FrameUpdate none;
  none.frame = u.frame;
  EXPECT_TRUE(w.update(none, false, f, Size{64, 32}, {}).bytes.empty());
}

TEST(RfbUpdateWriter, ASizeChangeGoesFirstOrTheClientIsToldItCannotFollow) {
  UpdateWriter w(nullptr, 0);
  Subscription::FrameUpdate u;
  u.frame = frame_with(40, 30, 0);
  u.damage = Region(Rect{0, 0, 40, 30});
  ClientFeatures plain = ClientFeatures::from_encodings({rfb::kRaw}, PixelFormat::server_native());
  EXPECT_THROW(w.update(u, false, plain, Size{64, 32}, {}), ProtocolError);
  ClientFeatures ext = ClientFeatures::from_encodings({rfb::kExtendedDesktopSize}, PixelFormat::server_native());
  ExtraRects extra;
  extra.qemu_key_ack();
  auto out = w.update(u, false, ext, Size{64, 32}, extra);
  EXPECT_TRUE(out.resized);
  std::vector<uint8_t> want = UpdateWriter::desktop_size(true, 0, 0, Size{40, 30});
  auto more = UpdateWriter::extras_only(extra);
  want.insert(want.end(), more.begin(), more.end());
  EXPECT_EQ(out.bytes, want);
}

TEST(RfbUpdateWriter, MoreRectsThanAnUpdateCountsNeedLastRect) {
  UpdateWriter w(nullptr, 0);
  Subscription::FrameUpdate u;
  u.frame = frame_with(1024, 1024, 0);
  // A checkerboard of single pixels is bounded at 4096 rects per kind; extras can still push past.
  ExtraRects extra;
  for (int i = 0; i < 65535; ++i) extra.qemu_key_ack();
  u.damage = Region(Rect{0, 0, 1, 1});
  ClientFeatures f = ClientFeatures::from_encodings({rfb::kRaw}, PixelFormat::server_native());
  EXPECT_THROW(w.update(u, false, f, Size{1024, 1024}, extra), ProtocolError);
  f.last_rect = true;
  auto out = w.update(u, false, f, Size{1024, 1024}, extra);
  EXPECT_EQ(rect_count(out.bytes), 0xFFFF);
  BeReader tail(std::span<const uint8_t>(out.bytes).last(12), "LastRect");
  tail.skip(8);
  EXPECT_EQ(tail.s32(), rfb::kLastRect);
}

TEST(RfbUpdateWriter, SetEncodingsPicksTheFirstServedEncodingAndItsFeatures) {
  PixelFormat pf = PixelFormat::server_native();
  pf.bpp = 16;
  ClientFeatures f = ClientFeatures::from_encodings(
      {9999, rfb::kZrle, rfb::kTight, rfb::kCursor, rfb::kCompressLevel0 + 2, rfb::kJpegQuality0 + 5, rfb::kFence},
      pf);
  EXPECT_EQ(f.preferred, rfb::kZrle);
  EXPECT_TRUE(f.cursor);
  EXPECT_TRUE(f.fence);
  EXPECT_FALSE(f.copyrect);
  EXPECT_EQ(f.compress, 2);
  EXPECT_EQ(f.quality, 5);
  EXPECT_EQ(f.pf.bpp, 16);
  EXPECT_EQ(f.describe(), "ZRLE, JPEG for motion at level 5");
}
