// The VNC server against a raw RFB client: handshakes for each protocol version and security
// type, pixel formats, and hostile clients, each of which loses only its own connection with a
// logged reason.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "auth/vnc_des.h"
#include "capture/capture_loop.h"
#include "capture/demo_source.h"
#include "capture/frame_source.h"
#include "core/log.h"
#include "tests/alternating_source.h"
#include "tests/log_capture.h"
#include "tests/rfb_test_client.h"
#include "transport/input/keysym.h"
#include "transport/vnc/pixel_format.h"
#include "transport/vnc/rfb_wire.h"
#include "transport/vnc/vnc_server.h"

using namespace tessera;
using namespace tessera::vnc;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

class VncServerTest : public ::testing::Test {
 protected:
  void start(SecurityConfig sec) {
    DemoSource d({96, 64}, 30);
    frame = std::make_shared<Frame>(d.render(2));
    hub.publish(frame, Region(frame->bounds()));
    VncServerConfig cfg;
    cfg.port = 0;
    cfg.security = std::move(sec);
    cfg.link_timeout = 1000ms;
    server = std::make_unique<VncServer>(cfg, hub, [](const InputEvent&) {});
    server->start();
  }
  static SecurityConfig none() {
    SecurityConfig s;
    s.offer = {Method::None};
    s.allow_no_auth = true;
    return s;
  }
  void TearDown() override {
    if (server) server->stop();
    hub.close();
  }
  // Requests a full update in `pf` with Raw and returns the client's pixels.
  std::vector<uint8_t> raw_frame(Rfb& c, const PixelFormat* pf = nullptr) {
    if (pf) {
      BeWriter w;
      w.u8(0).zeros(3);
      pf->write(w.buffer());
      c.send(w.take());
    }
    c.send(BeWriter().u8(2).u8(0).u16(1).s32(0).take());
    c.send(BeWriter().u8(3).u8(0).u16(0).u16(0).u16(96).u16(64).take());
    auto head = c.bytes(4);
    if (head.size() != 4 || head[0] != 0) return {};
    size_t nrects = size_t(head[2]) << 8 | head[3];
    size_t bpp = pf ? pf->bytes_per_pixel() : 4;
    std::vector<uint8_t> fb(96 * 64 * bpp);
    for (size_t i = 0; i < nrects; ++i) {
      auto rh = c.bytes(12);
      BeReader r(rh, "rect");
      int x = r.u16(), y = r.u16(), w = r.u16(), h = r.u16();
      EXPECT_EQ(r.s32(), 0);
      auto px = c.bytes(size_t(w) * size_t(h) * bpp);
      for (int row = 0; row < h; ++row)
        std::memcpy(&fb[(size_t(y + row) * 96 + size_t(x)) * bpp], &px[size_t(row) * size_t(w) * bpp], size_t(w) * bpp);
    }
    return fb;
  }

  LogCapture logs;
  FrameHub hub;
  std::shared_ptr<Frame> frame;
  std::unique_ptr<VncServer> server;
};

TEST_F(VncServerTest, NoneThenAnExactRawFrame) {
  start(none());
  Rfb c(server->port());
  EXPECT_EQ(c.hello(), std::vector<uint8_t>{1});
  c.send(std::vector<uint8_t>{1});
  EXPECT_EQ(c.u32(), 0u);
  EXPECT_EQ(c.init(), std::make_pair(96, 64));
  auto fb = raw_frame(c);
  ASSERT_EQ(fb.size(), 96u * 64 * 4);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 96; ++x)
      ASSERT_EQ(std::memcmp(&fb[(size_t(y) * 96 + size_t(x)) * 4], frame->row(y) + x, 3), 0) << x << "," << y;
}

TEST_F(VncServerTest, EveryTrueColourFormatIsServed) {
  start(none());
  PixelFormat formats[3];
  formats[0].red_shift = 0;  // red and blue swapped, as noVNC and libvncclient ask
  formats[0].blue_shift = 16;
  formats[1].bpp = 16;  // 5-6-5, big-endian
  formats[1].depth = 16;
  formats[1].big_endian = true;
  formats[1].red_max = 31;
  formats[1].green_max = 63;
  formats[1].blue_max = 31;
  formats[1].red_shift = 11;
  formats[1].green_shift = 5;
  formats[1].blue_shift = 0;
  formats[2].bpp = 8;  // BGR233
  formats[2].depth = 8;
  formats[2].red_max = 7;
  formats[2].green_max = 7;
  formats[2].blue_max = 3;
  formats[2].red_shift = 0;
  formats[2].green_shift = 3;
  formats[2].blue_shift = 6;
  for (const PixelFormat& pf : formats) {
    Rfb c(server->port());
    c.hello();
    c.send(std::vector<uint8_t>{1});
    ASSERT_EQ(c.u32(), 0u);
    c.init();
    auto fb = raw_frame(c, &pf);
    ASSERT_EQ(fb.size(), 96u * 64 * pf.bytes_per_pixel()) << pf.describe();
    std::vector<uint8_t> want;
    pf.convert(*frame, frame->bounds(), want);
    EXPECT_EQ(fb, want) << pf.describe();
    // Spot check the packing against the definition.
    uint32_t rgb = rgb_at(*frame, 5, 7);
    uint32_t v = 0;
    size_t bpp = pf.bytes_per_pixel();
    for (size_t i = 0; i < bpp; ++i) {
      uint8_t b = fb[(7 * 96 + 5) * bpp + i];
      v |= pf.big_endian ? uint32_t(b) << (8 * (bpp - 1 - i)) : uint32_t(b) << (8 * i);
    }
    EXPECT_EQ(v >> pf.red_shift & pf.red_max, ((rgb >> 16 & 0xFF) * pf.red_max + 127) / 255) << pf.describe();
  }
}

TEST_F(VncServerTest, Version33ClientsGetNoneOrVncAuthOnly) {
  start(none());
  Rfb c(server->port());
  c.bytes(12);
  c.send(std::string("RFB 003.003\n"));
  EXPECT_EQ(c.u32(), 1u);  // the server chose None, and no SecurityResult follows in 3.3
  EXPECT_EQ(c.init(), std::make_pair(96, 64));
}

TEST_F(VncServerTest, Version33ClientWithoutAUsableTypeIsToldWhy) {
  SecurityConfig s;
  s.offer = {Method::X509None};
  s.x509 = nullptr;
  s.offer = {Method::TlsNone};
  s.anon = TlsContext::anonymous();
  s.allow_no_auth = true;
  start(s);
  Rfb c(server->port());
  c.bytes(12);
  c.send(std::string("RFB 003.003\n"));
  EXPECT_EQ(c.u32(), 0u);
  uint32_t len = c.u32();
  auto why = c.bytes(len);
  EXPECT_EQ(std::string(why.begin(), why.end()), "No supported security type for 3.3 client");
  EXPECT_TRUE(logs.wait_for("an RFB 3.3 client can only use None or VNC authentication"));
}

TEST_F(VncServerTest, VncAuthenticationRightAndWrong) {
  SecurityConfig s;
  s.offer = {Method::VncAuth};
  s.password = "s3cret!x";
  start(s);
  for (std::string pw : {"s3cret!x", "wrong"}) {
    Rfb c(server->port());
    EXPECT_EQ(c.hello(), std::vector<uint8_t>{2});
    c.send(std::vector<uint8_t>{2});
    auto ch = c.bytes(16);
    ASSERT_EQ(ch.size(), 16u);
    VncChallenge challenge{};
    std::copy(ch.begin(), ch.end(), challenge.begin());
    auto resp = vnc_auth_response(pw, challenge);
    c.send(std::vector<uint8_t>(resp.begin(), resp.end()));
    uint32_t result = c.u32();
    if (pw == "wrong") {
      EXPECT_EQ(result, 1u);
      uint32_t len = c.u32();
      auto why = c.bytes(len);
      EXPECT_EQ(std::string(why.begin(), why.end()), "Authentication failed");
      EXPECT_TRUE(c.closed());
      EXPECT_TRUE(logs.wait_for("authentication failed: wrong password"));
    } else {
      EXPECT_EQ(result, 0u);
      EXPECT_EQ(c.init(), std::make_pair(96, 64));
    }
  }
  EXPECT_FALSE(logs.contains("s3cret")) << "the password reached the log";
}

TEST_F(VncServerTest, HostileHandshakes) {
  start(none());
  {
    Rfb c(server->port());
    c.bytes(12);
    c.send(std::string("GET / HTTP/1.1\r\n\r\n"));
    EXPECT_TRUE(c.closed());
    EXPECT_TRUE(logs.wait_for("not an RFB client"));
  }
  {
    Rfb c(server->port());
    c.bytes(12);
    c.send(std::string("RFB 004.000\n"));
    EXPECT_TRUE(c.closed());
    EXPECT_TRUE(logs.wait_for("RFB protocol 4.0 is not supported"));
  }
  {
    Rfb c(server->port());
    c.hello();
    c.send(std::vector<uint8_t>{19});  // VeNCrypt was not offered
    EXPECT_EQ(c.u32(), 1u);
    uint32_t len = c.u32();
    auto why = c.bytes(len);
    EXPECT_EQ(std::string(why.begin(), why.end()), "Requested security type is not available");
  }
  {
    Rfb c(server->port());  // says nothing: the link deadline ends it
    c.bytes(12);
    EXPECT_TRUE(c.closed(3000));
    EXPECT_TRUE(logs.wait_for("timed out waiting for protocol version"));
  }
}

TEST_F(VncServerTest, HostileMessagesCloseOnlyThatClient) {
  start(none());
  Rfb good(server->port());
  good.hello();
  good.send(std::vector<uint8_t>{1});
  good.u32();
  good.init();
  auto open = [&] { return Rfb::open_none(server->port()); };
  struct Case {
    std::vector<uint8_t> bytes;
    const char* reason;
  };
  std::vector<Case> cases = {
      {BeWriter().u8(2).u8(0).u16(5000).take(), "SetEncodings lists 5000 encodings (limit 1024)"},
      {BeWriter().u8(6).zeros(3).u32(50u << 20).take(), "clipboard text of 52428800 bytes (limit 1048576)"},
      {BeWriter().u8(6).zeros(3).s32(-8).take(), "extended clipboard format, which was not negotiated"},
      {BeWriter().u8(77).take(), "unknown message type 77"},
      {BeWriter().u8(0).zeros(3).u8(24).u8(24).u8(0).u8(1).u16(255).u16(255).u16(255).u8(16).u8(8).u8(0).zeros(3).take(),
       "pixel format with 24 bits per pixel"},
      {BeWriter().u8(0).zeros(3).u8(8).u8(8).u8(0).u8(0).zeros(12).take(), "colour-map pixel formats are not served"},
      {BeWriter().u8(248).zeros(3).u32(0x80000000).u8(200).take(), "fence payload of 200 bytes (limit 64)"},
      {BeWriter().u8(150).u8(1).zeros(8).take(), "EnableContinuousUpdates without the ContinuousUpdates encoding"},
      {BeWriter().u8(255).u8(9).take(), "QEMU client message subtype 9"},
  };
  for (const auto& k : cases) {
    auto c = open();
    c->send(k.bytes);
    EXPECT_TRUE(c->closed()) << k.reason;
    EXPECT_TRUE(logs.wait_for(k.reason)) << "no log line with: " << k.reason;
  }
  // The well-behaved client is still served.
  auto fb = raw_frame(good);
  EXPECT_EQ(fb.size(), 96u * 64 * 4);
}

// A client that asks for fence replies and never reads them is dropped before its queue grows
// without end; others are not held up.
TEST_F(VncServerTest, AClientThatNeverReadsItsFenceRepliesIsDropped) {
  start(none());
  auto open = [&] { return Rfb::open_none(server->port()); };
  auto good = open();
  auto bad = open();
  int small = 4096;
  ::setsockopt(bad->fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  bad->send(BeWriter().u8(rfb::kSetEncodings).u8(0).u16(2).s32(0).s32(rfb::kFence).take());
  std::vector<uint8_t> fence = BeWriter().u8(rfb::kClientFence).zeros(3).u32(0x80000000).u8(64).zeros(64).take();
  std::vector<uint8_t> burst;
  for (int i = 0; i < 200; ++i) burst.insert(burst.end(), fence.begin(), fence.end());
  bool dropped = false;
  for (int round = 0; round < 200 && !dropped; ++round) {
    ssize_t n = ::send(bad->fd_, burst.data(), burst.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    dropped = n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
    if (n < 0 && !dropped) std::this_thread::sleep_for(10ms);
    dropped = dropped || logs.contains("control messages (fence replies) waiting to be sent (limit 256)");
  }
  EXPECT_TRUE(logs.wait_for("the client does not read its replies: 256 control messages (fence replies) waiting "
                            "to be sent (limit 256)"));
  EXPECT_EQ(raw_frame(*good).size(), 96u * 64 * 4);
}

// Key codes never reach the log, at any level: a password typed into the desktop would.
TEST_F(VncServerTest, KeysAreNeverLogged) {
  start(none());
  spdlog::set_level(spdlog::level::trace);
  Rfb c(server->port());
  c.hello();
  c.send(std::vector<uint8_t>{1});
  c.u32();
  c.init();
  for (uint32_t keysym : {uint32_t('p'), uint32_t('w')}) {
    c.send(BeWriter().u8(rfb::kKeyEvent).u8(1).zeros(2).u32(keysym).take());
    c.send(BeWriter().u8(rfb::kKeyEvent).u8(0).zeros(2).u32(keysym).take());
  }
  c.send(BeWriter().u8(rfb::kPointerEvent).u8(0).u16(5).u16(6).take());
  EXPECT_TRUE(logs.wait_for("pointer 5,6"));  // everything before it was handled
  spdlog::set_level(spdlog::level::debug);
  EXPECT_FALSE(logs.contains(": key ")) << logs.all();
}

// Several clients share the live desktop; one that stops reading holds up nobody.
TEST_F(VncServerTest, ClientsShareTheDesktopAndASlowOneHoldsUpNobody) {
  DemoSource demo({96, 64}, 30);
  CaptureLoop loop(demo, hub, 30);
  loop.start();
  VncServerConfig cfg;
  cfg.port = 0;
  cfg.security = none();
  cfg.session.send_timeout = 1500ms;
  server = std::make_unique<VncServer>(cfg, hub, [](const InputEvent&) {});
  server->start();
  auto connect = [&] { return Rfb::open_none(server->port()); };
  auto stalled = connect();
  int small = 4096;
  setsockopt(stalled->fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  // Continuous updates: the server pushes without being asked, so the stalled client's socket fills.
  stalled->send(BeWriter().u8(2).u8(0).u16(2).s32(0).s32(rfb::kContinuousUpdates).take());
  stalled->send(BeWriter().u8(150).u8(1).u16(0).u16(0).u16(96).u16(64).take());
  // And full-frame requests all along: the small exact changes of a 96x64 desktop alone would
  // take long to fill the socket.
  std::atomic<bool> asking{true};
  std::thread ask([&] {
    auto fur = BeWriter().u8(3).u8(0).u16(0).u16(0).u16(96).u16(64).take();
    while (asking) {
      (void)!::send(stalled->fd_, fur.data(), fur.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(5ms);
    }
  });
  auto a = connect(), b = connect();
  for (int round = 0; round < 20; ++round) {
    for (Rfb* c : {a.get(), b.get()}) {
      auto fb = raw_frame(*c);
      ASSERT_EQ(fb.size(), 96u * 64 * 4) << "round " << round;
    }
  }
  EXPECT_TRUE(logs.wait_for("client stopped reading: send timed out", 8000));
  asking = false;
  ask.join();
  EXPECT_EQ(raw_frame(*a).size(), 96u * 64 * 4);
  loop.stop();
}

// A viewer reading 10 KB/s costs another viewer less than a tenth of its updates a second.
TEST_F(VncServerTest, AViewerReading10KBsCostsOthersUnderATenthOfTheirFrameRate) {
  AlternatingSource src({96, 64});
  CaptureLoop loop(src, hub, 30);
  loop.start();
  VncServerConfig cfg;
  cfg.port = 0;
  cfg.security = none();
  server = std::make_unique<VncServer>(cfg, hub, [](const InputEvent&) {});
  server->start();
  auto raw_only = BeWriter().u8(2).u8(0).u16(1).s32(0).take();
  // Updates a client that asks again after each one gets in `over` (Raw, 32-bit pixels).
  auto fast = Rfb::open_none(server->port());
  fast->send(raw_only);
  auto updates = [&](std::chrono::milliseconds over) {
    int n = 0;
    const auto end = std::chrono::steady_clock::now() + over;
    while (std::chrono::steady_clock::now() < end) {
      fast->send(BeWriter().u8(3).u8(n > 0).u16(0).u16(0).u16(96).u16(64).take());
      auto head = fast->bytes(4);
      if (head.size() != 4 || head[0] != 0) return -1;
      for (size_t i = 0, rects = size_t(head[2]) << 8 | head[3]; i < rects; ++i) {
        auto rh = fast->bytes(12);
        if (rh.size() != 12) return -1;
        BeReader r(rh, "rect");
        r.u16(), r.u16();
        int w = r.u16(), h = r.u16();
        if (fast->bytes(size_t(w) * size_t(h) * 4).size() != size_t(w) * size_t(h) * 4) return -1;
      }
      ++n;
    }
    return n;
  };
  updates(500ms);
  const double alone = updates(2000ms) / 2.0;
  // The slow viewer asks for whole pictures all along and drains its socket at 10 KB/s.
  auto slow = Rfb::open_none(server->port());
  int small = 4096;
  setsockopt(slow->fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  slow->send(raw_only);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> slow_bytes{0};
  std::thread reader([&] {
    const auto t0 = std::chrono::steady_clock::now();
    auto fur = BeWriter().u8(3).u8(0).u16(0).u16(0).u16(96).u16(64).take();
    uint8_t buf[1024];
    while (!stop) {
      (void)!::send(slow->fd_, fur.data(), fur.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ssize_t k = ::recv(slow->fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (k > 0) slow_bytes += uint64_t(k);
      auto due = t0 + std::chrono::milliseconds(slow_bytes / 10);
      do std::this_thread::sleep_for(10ms);
      while (!stop && std::chrono::steady_clock::now() < due);
    }
  });
  std::this_thread::sleep_for(500ms);
  const double shared = updates(2000ms) / 2.0;
  stop = true;
  reader.join();
  std::printf("fast viewer: %.1f updates/s alone, %.1f beside a 10 KB/s viewer (which got %llu bytes)\n", alone,
              shared, static_cast<unsigned long long>(slow_bytes.load()));
  EXPECT_GT(alone, 20.0);
  EXPECT_GE(shared, 0.9 * alone);
  loop.stop();
}

TEST(VncPixelFormat, ParseRejectsWhatCannotBeServed) {
  auto parse = [](std::vector<uint8_t> b) { return PixelFormat::parse(b); };
  PixelFormat native = PixelFormat::server_native();
  std::vector<uint8_t> b;
  native.write(b);
  EXPECT_EQ(parse(b), native);
  b[4] = 0;  // red max 254: not a run of low bits
  b[5] = 0xFE;
  EXPECT_THROW(parse(b), ProtocolError);
  std::vector<uint8_t> c;
  native.write(c);
  c[10] = 30;  // red shift 30 + 8 bits > 32
  EXPECT_THROW(parse(c), ProtocolError);
}

TEST(InputTables, KeysymsAndXtCodesBecomeEvdevCodes) {
  using input::keysym_to_evdev;
  using input::xt_to_evdev;
  EXPECT_EQ(keysym_to_evdev('a'), 30u);  // KEY_A
  EXPECT_EQ(keysym_to_evdev('A'), 30u);  // the client sends Shift itself
  EXPECT_EQ(keysym_to_evdev('!'), 2u);   // Shift+1
  EXPECT_EQ(keysym_to_evdev('0'), 11u);
  EXPECT_EQ(keysym_to_evdev(' '), 57u);
  EXPECT_EQ(keysym_to_evdev('~'), 41u);
  EXPECT_EQ(keysym_to_evdev(0xFF0D), 28u);  // Return
  EXPECT_EQ(keysym_to_evdev(0xFFE1), 42u);  // Shift_L
  EXPECT_EQ(keysym_to_evdev(0xFFE3), 29u);  // Control_L
  EXPECT_EQ(keysym_to_evdev(0xFFBE), 59u);  // F1
  EXPECT_EQ(keysym_to_evdev(0xFFC9), 88u);  // F12
  EXPECT_EQ(keysym_to_evdev(0xFF51), 105u);  // Left
  EXPECT_EQ(keysym_to_evdev(0x20AC), 0u);    // the euro sign has no US key: dropped
  EXPECT_EQ(xt_to_evdev(0x1E), 30u);          // A
  EXPECT_EQ(xt_to_evdev(0xCD), 106u);         // E0 4D: Right
  EXPECT_EQ(xt_to_evdev(0x9D), 97u);          // E0 1D: right Control
}

TEST(VncDes, KnownAnswer) {
  // VNC authentication of an all-zero challenge with an empty password: DES of zeros under the
  // zero key, twice.
  VncChallenge zero{};
  auto r = vnc_auth_response("", zero);
  const uint8_t want[8] = {0x8c, 0xa6, 0x4d, 0xe9, 0xc1, 0xb1, 0x23, 0xa7};
  EXPECT_EQ(std::memcmp(r.data(), want, 8), 0);
  EXPECT_EQ(std::memcmp(r.data() + 8, want, 8), 0);
  EXPECT_TRUE(vnc_auth_check("", zero, r));
  EXPECT_FALSE(vnc_auth_check("x", zero, r));
}

}  // namespace
