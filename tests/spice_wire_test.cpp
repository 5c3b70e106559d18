#include <gtest/gtest.h>
#include <lz4.h>

#include "capture/demo_source.h"
#include "transport/spice/inputs_reader.h"
#include "transport/spice/link.h"
#include "transport/spice/messages.h"
#include "transport/input/scancode.h"

using namespace tessera;
using namespace tessera::spice;
using namespace tessera::input;

namespace {
std::vector<uint8_t> header(uint32_t magic, uint32_t major, uint32_t size) {
  return WireWriter().u32(magic).u32(major).u32(2).u32(size).take();
}
uint32_t rd32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t(b[at]) | uint32_t(b[at + 1]) << 8 | uint32_t(b[at + 2]) << 16 | uint32_t(b[at + 3]) << 24;
}
}  // namespace

TEST(Caps, BitsAcrossWords) {
  Caps c;
  set_cap(c, 3);
  set_cap(c, 33);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], 8u);
  EXPECT_EQ(c[1], 2u);
  EXPECT_TRUE(has_cap(c, 33));
  EXPECT_FALSE(has_cap(c, 34));
  EXPECT_FALSE(has_cap(c, 999));
}

TEST(LinkHeader, AcceptsSpiceAndRejectsEverythingElse) {
  auto h = parse_link_header(header(SPICE_MAGIC, 2, 26));
  EXPECT_EQ(h.size, 26u);
  auto code = [](const std::vector<uint8_t>& b) {
    try {
      parse_link_header(b);
    } catch (const LinkError& e) {
      return e.code;
    }
    return uint32_t(SPICE_LINK_ERR_OK);
  };
  EXPECT_EQ(code(header(0x20544547, 2, 26)), uint32_t(SPICE_LINK_ERR_INVALID_MAGIC));
  EXPECT_EQ(code(header(SPICE_MAGIC, 1, 26)), uint32_t(SPICE_LINK_ERR_VERSION_MISMATCH));
  EXPECT_EQ(code(header(SPICE_MAGIC, 2, 17)), uint32_t(SPICE_LINK_ERR_INVALID_DATA));
  EXPECT_EQ(code(header(SPICE_MAGIC, 2, 2u << 20)), uint32_t(SPICE_LINK_ERR_INVALID_DATA));
  EXPECT_EQ(code(header(SPICE_MAGIC, 2, 0xFFFFFFFF)), uint32_t(SPICE_LINK_ERR_INVALID_DATA));
  EXPECT_THROW(parse_link_header(std::vector<uint8_t>(10, 0)), ProtocolError);
}

TEST(LinkMessage, ParsesWhatClientsSend) {
  Caps common{0x0D}, channel{0x6F3F};
  auto req = build_link_request(0x1234, SPICE_CHANNEL_DISPLAY, 0, common, channel);
  auto m = parse_link_message(std::span(req).subspan(16));
  EXPECT_EQ(m.connection_id, 0x1234u);
  EXPECT_EQ(m.channel_type, SPICE_CHANNEL_DISPLAY);
  EXPECT_EQ(m.common_caps, common);
  EXPECT_EQ(m.channel_caps, channel);
}

TEST(LinkMessage, RejectsHostileCapabilityCounts) {
  auto mess = [](uint32_t ncommon, uint32_t nchannel, uint32_t offset, size_t pad) {
    WireWriter w;
    w.u32(0).u8(1).u8(0).u32(ncommon).u32(nchannel).u32(offset).zeros(pad);
    return w.take();
  };
  EXPECT_NO_THROW(parse_link_message(mess(1, 1, 18, 8)));
  EXPECT_THROW(parse_link_message(mess(0xFFFFFFFF, 2, 18, 8)), LinkError);  // u32 sum would wrap
  EXPECT_THROW(parse_link_message(mess(0x40000000, 0x40000000, 18, 8)), LinkError);
  EXPECT_THROW(parse_link_message(mess(2, 0, 18, 4)), LinkError);           // runs past the end
  EXPECT_THROW(parse_link_message(mess(1, 0, 0xFFFFFFF0, 8)), LinkError);   // offset overflow
  EXPECT_THROW(parse_link_message(mess(1, 0, 4, 8)), LinkError);            // caps inside the header
  EXPECT_THROW(parse_link_message(std::vector<uint8_t>(17, 0)), ProtocolError);
}

TEST(LinkReply, Layout) {
  std::array<uint8_t, 162> key{};
  key[0] = 0x30;
  Caps common{0x0B}, channel{0x52, 0x1};
  auto r = build_link_reply(0, key, common, channel);
  ASSERT_EQ(r.size(), 16u + 178u + 12u);
  EXPECT_EQ(rd32(r, 0), uint32_t(SPICE_MAGIC));
  EXPECT_EQ(rd32(r, 4), 2u);
  EXPECT_EQ(rd32(r, 12), 178u + 12u);
  EXPECT_EQ(rd32(r, 16), 0u);
  EXPECT_EQ(r[20], 0x30);
  EXPECT_EQ(rd32(r, 16 + 166), 1u);
  EXPECT_EQ(rd32(r, 16 + 170), 2u);
  EXPECT_EQ(rd32(r, 16 + 174), 178u);
  EXPECT_EQ(rd32(r, 16 + 178), 0x0Bu);
  EXPECT_EQ(rd32(r, 16 + 182), 0x52u);
  auto err = build_link_reply(SPICE_LINK_ERR_PERMISSION_DENIED, {}, {}, {});
  EXPECT_EQ(err.size(), 16u + 178u);
  EXPECT_EQ(rd32(err, 16), uint32_t(SPICE_LINK_ERR_PERMISSION_DENIED));
}

TEST(Messages, MainInitAndChannelsList) {
  MainInit m;
  m.session_id = 0xABCD;
  m.multi_media_time = 777;
  auto b = main_init(m);
  ASSERT_EQ(b.size(), 32u);
  EXPECT_EQ(rd32(b, 0), 0xABCDu);
  EXPECT_EQ(rd32(b, 8), 3u);
  EXPECT_EQ(rd32(b, 12), 2u);
  EXPECT_EQ(rd32(b, 24), 777u);
  auto l = main_channels_list({{2, 0}, {3, 0}});
  EXPECT_EQ(l, (std::vector<uint8_t>{2, 0, 0, 0, 2, 0, 3, 0}));
  auto n = main_name("ab");
  EXPECT_EQ(n, (std::vector<uint8_t>{3, 0, 0, 0, 'a', 'b', 0}));
}

TEST(Messages, SurfaceAndMonitors) {
  auto s = surface_create(0, 640, 480);
  ASSERT_EQ(s.size(), 20u);
  EXPECT_EQ(rd32(s, 4), 640u);
  EXPECT_EQ(rd32(s, 12), uint32_t(SPICE_SURFACE_FMT_32_xRGB));
  EXPECT_EQ(rd32(s, 16), uint32_t(SPICE_SURFACE_FLAGS_PRIMARY));
  auto m = monitors_config(640, 480);
  ASSERT_EQ(m.size(), 4u + 28u);
  EXPECT_EQ(rd32(m, 4 + 8), 640u);  // width comes before x
  EXPECT_EQ(rd32(m, 4 + 12), 480u);
}

TEST(Messages, DrawCopyBitmapLayout) {
  Frame f(10, 6);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 10; ++x) f.set_pixel(x, y, bgrx(uint8_t(x), uint8_t(y), 0x55));
  Rect r{3, 2, 4, 3};
  auto b = draw_copy_bitmap(f, r, 42);
  ASSERT_EQ(b.size(), 57u + 18u + 18u + 4u * 4u * 3u);
  EXPECT_EQ(rd32(b, 4), 2u);   // top
  EXPECT_EQ(rd32(b, 8), 3u);   // left
  EXPECT_EQ(rd32(b, 12), 5u);  // bottom
  EXPECT_EQ(rd32(b, 16), 7u);  // right
  EXPECT_EQ(b[20], SPICE_CLIP_TYPE_NONE);
  EXPECT_EQ(rd32(b, 21), 57u);
  EXPECT_EQ(rd32(b, 25 + 8), 3u);  // src_area bottom = height
  EXPECT_EQ(rd32(b, 25 + 12), 4u);
  EXPECT_EQ(b[41], SPICE_ROPD_OP_PUT);
  EXPECT_EQ(b[57 + 8], SPICE_IMAGE_TYPE_BITMAP);
  EXPECT_EQ(b[57 + 18], SPICE_BITMAP_FMT_32BIT);
  EXPECT_EQ(b[57 + 19], SPICE_BITMAP_FLAGS_TOP_DOWN);
  EXPECT_EQ(rd32(b, 57 + 28), 16u);  // stride
  size_t data = 57 + 36;
  EXPECT_EQ(rd32(b, data), bgrx(3, 2, 0x55));
  EXPECT_EQ(rd32(b, data + 16 * 2 + 12), bgrx(6, 4, 0x55));
}

TEST(Messages, DrawCopyLz4DecodesToTheSourcePixels) {
  DemoSource demo({300, 200}, 30);
  Frame f = demo.render(3);
  Rect r{7, 9, 251, 173};  // odd size: several chained blocks
  Lz4ImageEncoder enc(16);
  auto b = draw_copy_lz4(f, r, 1, enc);
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(b[57 + 8], SPICE_IMAGE_TYPE_LZ4);
  uint32_t size = rd32(b, 57 + 18);
  ASSERT_EQ(b.size(), 57u + 18u + 4u + size);
  const uint8_t* p = b.data() + 57 + 22;
  EXPECT_EQ(p[0], 1);  // top-down
  EXPECT_EQ(p[1], SPICE_BITMAP_FMT_32BIT);
  std::vector<uint8_t> out(size_t(r.width) * 4 * size_t(r.height));
  LZ4_streamDecode_t s;
  LZ4_setStreamDecode(&s, nullptr, 0);
  size_t off = 2, pos = 0;
  int blocks = 0;
  while (off < size) {
    uint32_t len = uint32_t(p[off]) << 24 | uint32_t(p[off + 1]) << 16 | uint32_t(p[off + 2]) << 8 | p[off + 3];
    off += 4;
    int n = LZ4_decompress_safe_continue(&s, reinterpret_cast<const char*>(p + off), reinterpret_cast<char*>(out.data() + pos),
                                         int(len), int(out.size() - pos));
    ASSERT_GT(n, 0);
    pos += size_t(n);
    off += len;
    ++blocks;
  }
  EXPECT_EQ(blocks, (173 + 15) / 16);
  ASSERT_EQ(pos, out.size());
  std::vector<uint8_t> want;
  pack_rect(f, r, want);
  EXPECT_EQ(out, want);
}

TEST(Messages, DrawCopyLz4GivesUpOnNoise) {
  Frame f(64, 64);
  uint64_t x = 1;
  for (int y = 0; y < 64; ++y)
    for (int i = 0; i < 64; ++i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      f.set_pixel(i, y, uint32_t(x >> 32));
    }
  Lz4ImageEncoder enc;
  EXPECT_TRUE(draw_copy_lz4(f, f.bounds(), 1, enc).empty());
}

TEST(Messages, CursorLayout) {
  CursorState c{default_arrow_cursor(), 5, 6, true};
  auto init = cursor_init(c);
  ASSERT_EQ(init.size(), 9u + 2u + 17u + size_t(12 * 19 * 4));
  EXPECT_EQ(init[0], 5);
  EXPECT_EQ(init[2], 6);
  EXPECT_EQ(init[8], 1);  // visible
  EXPECT_EQ(init[9 + 2 + 8], SPICE_CURSOR_TYPE_ALPHA);
  auto none = cursor_init(CursorState{});
  ASSERT_EQ(none.size(), 11u);
  EXPECT_EQ(none[9], SPICE_CURSOR_FLAGS_NONE);
  EXPECT_EQ(cursor_move(-1, 40000), (std::vector<uint8_t>{0xFF, 0xFF, 0xFF, 0x7F}));
}

// The inputs channel's messages without a socket: events, the motion count, lock state, and a
// short body refused by name.
TEST(InputsReader, MessagesBecomeEventsAndShortBodiesAreRefused) {
  InputsReader r;
  auto read = [&](uint16_t type, std::vector<uint8_t> body) {
    WireReader w(body, "inputs message");
    return r.read(type, w);
  };
  auto key = read(SPICE_MSGC_INPUTS_KEY_DOWN, WireWriter().u32(0x48E0).take());  // up arrow
  ASSERT_EQ(key.events.size(), 1u);
  EXPECT_EQ(key.events[0].kind, InputEvent::Kind::KeyDown);
  EXPECT_EQ(key.events[0].key, 103u);
  // A scan code sequence split across two messages still decodes once.
  EXPECT_TRUE(read(SPICE_MSGC_INPUTS_KEY_SCANCODE, {0xE0}).events.empty());
  EXPECT_EQ(read(SPICE_MSGC_INPUTS_KEY_SCANCODE, {0xC8}).events.at(0).kind, InputEvent::Kind::KeyUp);
  auto move = read(SPICE_MSGC_INPUTS_MOUSE_POSITION, WireWriter().u32(40).u32(30).u16(0x41).u8(0).take());
  ASSERT_EQ(move.events.size(), 1u);
  EXPECT_TRUE(move.motion);
  EXPECT_EQ(move.events[0].x, 40);
  EXPECT_EQ(move.events[0].buttons, 0x1u | 0x100u);  // left, and SPICE's side button 6 -> our 8
  auto press = read(SPICE_MSGC_INPUTS_MOUSE_PRESS, WireWriter().u8(7).u16(0).take());
  EXPECT_EQ(press.events.at(0).button, 9u);
  EXPECT_FALSE(press.motion);
  EXPECT_EQ(read(SPICE_MSGC_INPUTS_KEY_MODIFIERS, WireWriter().u16(3).take()).modifiers, uint16_t(3));
  EXPECT_FALSE(read(999, {}).known);
  EXPECT_THROW(read(SPICE_MSGC_INPUTS_MOUSE_MOTION, {1, 2, 3}), ProtocolError);
  EXPECT_THROW(read(SPICE_MSGC_INPUTS_KEY_DOWN, {}), ProtocolError);
}

TEST(Scancodes, PlainExtendedAndPause) {
  ScancodeDecoder d;
  auto k = d.feed(std::vector<uint8_t>{0x1E, 0x9E});
  ASSERT_EQ(k.size(), 2u);
  EXPECT_EQ(k[0].evdev, 30u);  // KEY_A
  EXPECT_TRUE(k[0].pressed);
  EXPECT_FALSE(k[1].pressed);
  k = d.feed(unpack_key_code(0x48E0));  // up arrow, packed as KEY_DOWN carries it
  ASSERT_EQ(k.size(), 1u);
  EXPECT_EQ(k[0].evdev, 103u);
  k = d.feed(unpack_key_code(0xC8E0));
  ASSERT_EQ(k.size(), 1u);
  EXPECT_FALSE(k[0].pressed);
  k = d.feed(std::vector<uint8_t>{0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5});
  ASSERT_EQ(k.size(), 2u);
  EXPECT_EQ(k[0].evdev, 119u);
  EXPECT_TRUE(d.feed(std::vector<uint8_t>{0x7F, 0xE0, 0x01}).empty());  // unknown codes are skipped
  EXPECT_EQ(d.feed(std::vector<uint8_t>{0x02}).at(0).evdev, 2u);      // and do not poison what follows
}

TEST(SpiceClientMessages, DisplayInitAndMessageHeadersAreReadOrRefused) {
  auto init = WireWriter().u8(1).u64(1u << 20).u8(2).u32(0xFFFFFFFFu).take();
  WireReader r(init, "DISPLAY_INIT");
  DisplayInit d = parse_display_init(r);
  EXPECT_EQ(d.cache_id, 1);
  EXPECT_EQ(d.cache_pixels, 1 << 20);
  EXPECT_EQ(d.glz_dictionary_id, 2);
  EXPECT_EQ(d.glz_window_pixels, -1);  // a signed window, as spice-gtk sends it; the channel clamps it
  std::vector<uint8_t> short_init(init.begin(), init.end() - 1);
  WireReader rs(short_init, "DISPLAY_INIT");
  EXPECT_THROW(parse_display_init(rs), ProtocolError);

  auto mini = WireWriter().u16(101).u32(14).take();
  MessageHeader h = parse_message_header(mini, true, 1024);
  EXPECT_EQ(h.type, 101);
  EXPECT_EQ(h.size, 14u);
  auto full = WireWriter().u64(7).u16(102).u32(32).u32(0).take();
  EXPECT_EQ(parse_message_header(full, false, 1024).type, 102);
  try {
    parse_message_header(WireWriter().u16(101).u32(1u << 30).take(), true, 1024);
    ADD_FAILURE() << "a body over the limit was accepted";
  } catch (const ProtocolError& e) {
    EXPECT_STREQ(e.what(), "message type 101 claims 1073741824 bytes (limit 1024)");
  }
  EXPECT_THROW(parse_message_header(mini, false, 1024), ProtocolError);  // 6 bytes are not a full header
}
