// The embedding API (embed/tessera.h), used only through its C functions: frames and damage in,
// pictures out to the SPICE test client (and a raw VNC client) exactly, input back through the
// callback, resizes, passwords, and every bad argument answered with a code and a reason.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth/vnc_des.h"
#include "core/frame.h"
#include "core/log.h"
#include "embed/tessera.h"
#include "tests/log_capture.h"
#include "tests/spice_test_client.h"

using namespace tessera;
using namespace tessera::spice;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

// A picture that differs from every other seed's in every pixel.
Frame pattern(int w, int h, uint32_t seed, int stride = 0) {
  Frame f(w, h, stride);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      f.set_pixel(x, y,
                  bgrx(uint8_t(uint32_t(x) * 3u + seed), uint8_t(uint32_t(y) * 5u + seed * 7u),
                       uint8_t(uint32_t(x ^ y) + seed * 13u)));
  return f;
}

// The client shows exactly `f` (the X byte aside).
bool shows(const DisplayClient& d, const Frame& f) {
  return d.surface_created && d.surface.size() == f.size() && d.surface.same_pixels(f, f.bounds());
}

struct Collected {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<tessera_input_event> events;

  bool wait_for_count(size_t n, std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return events.size() >= n; });
  }
  size_t count() {
    std::lock_guard lock(mu);
    return events.size();
  }
};

void collect(const tessera_input_event* e, void* user) {
  auto* c = static_cast<Collected*>(user);
  std::lock_guard lock(c->mu);
  c->events.push_back(*e);
  c->cv.notify_all();
}

// The library logs through spdlog's default logger and installs its own stderr logger when the
// process has none. Install ours first, so that LogCapture's sink is on the logger that stays.
struct DefaultLogger {
  DefaultLogger() {
    if (spdlog::default_logger()->name().empty()) init_logging();
  }
};

// The bytes of a VNC exchange, read or nothing.
std::vector<uint8_t> read_bytes(RawConn& c, size_t n) {
  std::vector<uint8_t> b(n);
  if (n && !c.recv(b.data(), n)) b.clear();
  return b;
}

uint32_t be32(const std::vector<uint8_t>& b, size_t at = 0) {
  return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | b[at + 3];
}

// Protocol version, then the security types the server offers.
std::vector<uint8_t> vnc_hello(RawConn& c) {
  auto version = read_bytes(c, 12);
  EXPECT_EQ(std::string(version.begin(), version.end()), "RFB 003.008\n");
  const std::string v = "RFB 003.008\n";
  c.send(std::span(reinterpret_cast<const uint8_t*>(v.data()), v.size()));
  auto n = read_bytes(c, 1);
  return n.empty() ? n : read_bytes(c, n[0]);
}

// ClientInit, ServerInit; then a full update in the server's pixel format (32-bit BGRX) with Raw.
Frame vnc_init_and_frame(RawConn& c) {
  c.send(std::vector<uint8_t>{1});
  auto init = read_bytes(c, 24);
  if (init.size() != 24) return {};
  int w = init[0] << 8 | init[1], h = init[2] << 8 | init[3];
  read_bytes(c, be32(init, 20));  // the desktop name
  c.send(std::vector<uint8_t>{2, 0, 0, 1, 0, 0, 0, 0});  // SetEncodings: Raw
  c.send(std::vector<uint8_t>{3, 0, 0, 0, 0, 0, uint8_t(w >> 8), uint8_t(w), uint8_t(h >> 8), uint8_t(h)});
  auto head = read_bytes(c, 4);
  if (head.size() != 4 || head[0] != 0) return {};
  Frame fb(w, h);
  size_t rects = size_t(head[2]) << 8 | head[3];
  for (size_t i = 0; i < rects; ++i) {
    auto r = read_bytes(c, 12);
    if (r.size() != 12 || be32(r, 8) != 0) return {};
    int x = r[0] << 8 | r[1], y = r[2] << 8 | r[3], rw = r[4] << 8 | r[5], rh = r[6] << 8 | r[7];
    if (!fb.bounds().contains(Rect{x, y, rw, rh})) return {};
    auto px = read_bytes(c, size_t(rw) * size_t(rh) * 4);
    if (px.empty() && rw * rh > 0) return {};
    for (int row = 0; row < rh; ++row)
      std::memcpy(fb.row(y + row) + x, &px[size_t(row) * size_t(rw) * 4], size_t(rw) * 4);
  }
  return fb;
}

}  // namespace

class EmbedTest : public ::testing::Test {
 protected:
  void TearDown() override {
    tessera_server_free(srv);
    srv = nullptr;
  }

  // A small desktop on a free SPICE port, no VNC, no password.
  static tessera_config config() {
    tessera_config c;
    tessera_config_init(&c);
    c.spice_port = 0;
    c.vnc_port = -1;
    c.width = 160;
    c.height = 100;
    c.fps = 30;
    return c;
  }

  void start(const tessera_config& c) {
    char err[256] = "not written";
    srv = tessera_server_new(&c, err, sizeof err);
    ASSERT_NE(srv, nullptr) << err;
    EXPECT_STREQ(err, "");
    ASSERT_EQ(tessera_server_start(srv), TESSERA_OK) << tessera_last_error(srv);
  }

  // damage: nullptr for the whole frame.
  int submit(const Frame& f, const std::vector<tessera_rect>* damage = nullptr) {
    return tessera_submit_frame(srv, f.data(), f.width(), f.height(), f.stride(), damage ? damage->data() : nullptr,
                                damage ? damage->size() : 0);
  }

  uint16_t spice_port() {
    int p = tessera_server_port(srv, TESSERA_PORT_SPICE);
    EXPECT_GT(p, 0) << tessera_last_error(srv);
    return uint16_t(p);
  }

  DefaultLogger default_logger;
  LogCapture logs;
  tessera_server* srv = nullptr;
};

TEST_F(EmbedTest, SubmittedFrameReachesTheViewerExactly) {
  ASSERT_NO_FATAL_FAILURE(start(config()));
  // Rows padded: the library must step by `stride`, not width * 4.
  Frame a = pattern(160, 100, 1, 160 * 4 + 64);
  ASSERT_EQ(submit(a), TESSERA_OK) << tessera_last_error(srv);
  EXPECT_STREQ(tessera_last_error(srv), "");
  DisplayClient d(spice_port());
  ASSERT_TRUE(d.ok()) << d.error;
  d.start();
  EXPECT_TRUE(d.wait_until([&](const DisplayClient& c) { return c.marked && shows(c, a); })) << d.error;
}

TEST_F(EmbedTest, FrameSubmittedBeforeStartIsTheFirstPicture) {
  tessera_config c = config();
  char err[256];
  srv = tessera_server_new(&c, err, sizeof err);
  ASSERT_NE(srv, nullptr) << err;
  EXPECT_EQ(tessera_server_port(srv, TESSERA_PORT_SPICE), TESSERA_E_STATE);
  EXPECT_NE(std::string(tessera_last_error(srv)).find("not started"), std::string::npos);
  Frame a = pattern(160, 100, 4);
  ASSERT_EQ(submit(a), TESSERA_OK) << tessera_last_error(srv);
  ASSERT_EQ(tessera_server_start(srv), TESSERA_OK) << tessera_last_error(srv);
  DisplayClient d(spice_port());
  ASSERT_TRUE(d.ok()) << d.error;
  d.start();
  EXPECT_TRUE(d.wait_until([&](const DisplayClient& cl) { return cl.marked && shows(cl, a); })) << d.error;
}

TEST_F(EmbedTest, DamagedRectangleArrivesExactly) {
  // 4 fps: the tracker's full comparison comes every 30 ticks (7.5 s), so an update within the
  // 5 s below was found through the damage rectangle.
  tessera_config c = config();
  c.fps = 4;
  ASSERT_NO_FATAL_FAILURE(start(c));
  Frame a = pattern(160, 100, 1);
  ASSERT_EQ(submit(a), TESSERA_OK);
  DisplayClient d(spice_port());
  ASSERT_TRUE(d.ok()) << d.error;
  d.start();
  ASSERT_TRUE(d.wait_until([&](const DisplayClient& cl) { return cl.marked && shows(cl, a); })) << d.error;
  uint64_t draws = 0;
  d.wait_until([&](const DisplayClient& cl) {
    draws = cl.draws;
    return true;
  });

  Frame b = a;
  b.copy_from(pattern(160, 100, 9), Rect{40, 30, 50, 20});
  std::vector<tessera_rect> damage{{40, 30, 50, 20}};
  ASSERT_EQ(submit(b, &damage), TESSERA_OK) << tessera_last_error(srv);
  EXPECT_TRUE(d.wait_until([&](const DisplayClient& cl) { return shows(cl, b); }, 5000)) << d.error;
  d.wait_until([&](const DisplayClient& cl) {
    EXPECT_GT(cl.draws, draws);
    return true;
  });

  // Several rectangles, one of them partly outside the frame (clipped) and one empty (ignored).
  Frame e = b;
  e.copy_from(pattern(160, 100, 17), Rect{0, 0, 16, 16});
  e.copy_from(pattern(160, 100, 23), Rect{140, 90, 20, 10});
  std::vector<tessera_rect> more{{0, 0, 16, 16}, {140, 90, 64, 64}, {10, 10, 0, 5}};
  ASSERT_EQ(submit(e, &more), TESSERA_OK) << tessera_last_error(srv);
  EXPECT_TRUE(d.wait_until([&](const DisplayClient& cl) { return shows(cl, e); }, 5000)) << d.error;
}

TEST_F(EmbedTest, ResizeSendsTheNewSize) {
  ASSERT_NO_FATAL_FAILURE(start(config()));
  Frame a = pattern(160, 100, 1);
  ASSERT_EQ(submit(a), TESSERA_OK);
  DisplayClient d(spice_port());
  ASSERT_TRUE(d.ok()) << d.error;
  d.start();
  ASSERT_TRUE(d.wait_until([&](const DisplayClient& cl) { return cl.marked && shows(cl, a); })) << d.error;

  // Larger, with a damage rectangle that a resize overrides: the whole frame goes.
  Frame b = pattern(200, 120, 2);
  std::vector<tessera_rect> small{{0, 0, 8, 8}};
  ASSERT_EQ(submit(b, &small), TESSERA_OK) << tessera_last_error(srv);
  EXPECT_TRUE(d.wait_until([&](const DisplayClient& cl) { return shows(cl, b); })) << d.error;

  // Then a damaged update at the new size, and smaller again.
  Frame c = b;
  c.copy_from(pattern(200, 120, 5), Rect{150, 100, 50, 20});
  std::vector<tessera_rect> corner{{150, 100, 50, 20}};
  ASSERT_EQ(submit(c, &corner), TESSERA_OK);
  EXPECT_TRUE(d.wait_until([&](const DisplayClient& cl) { return shows(cl, c); })) << d.error;
  Frame e = pattern(96, 64, 3);
  ASSERT_EQ(submit(e), TESSERA_OK);
  EXPECT_TRUE(d.wait_until([&](const DisplayClient& cl) { return shows(cl, e); })) << d.error;
}

TEST_F(EmbedTest, InputReachesTheCallback) {
  ASSERT_NO_FATAL_FAILURE(start(config()));
  Collected got;
  ASSERT_EQ(tessera_set_input_callback(srv, collect, &got), TESSERA_OK);
  ASSERT_EQ(submit(pattern(160, 100, 1)), TESSERA_OK);
  DisplayClient d(spice_port());
  ASSERT_TRUE(d.ok()) << d.error;
  d.start();
  auto in = ChannelClient::open(spice_port(), d.session_id, SPICE_CHANNEL_INPUTS, "", {});
  ASSERT_TRUE(in);
  auto init = in->read();
  ASSERT_TRUE(init);
  EXPECT_EQ(init->type, SPICE_MSG_INPUTS_INIT);
  in->write(SPICE_MSGC_INPUTS_MOUSE_POSITION, WireWriter().u32(10).u32(20).u16(0).u8(0).take());
  in->write(SPICE_MSGC_INPUTS_KEY_SCANCODE, std::vector<uint8_t>{0x1E, 0x9E});  // A down, A up
  in->write(SPICE_MSGC_INPUTS_MOUSE_PRESS, WireWriter().u8(1).u16(1).take());
  ASSERT_TRUE(got.wait_for_count(4)) << got.count() << " events";
  {
    std::lock_guard lock(got.mu);
    ASSERT_EQ(got.events.size(), 4u);
    EXPECT_EQ(got.events[0].kind, TESSERA_INPUT_POINTER_MOVE);
    EXPECT_EQ(got.events[0].x, 10);
    EXPECT_EQ(got.events[0].y, 20);
    EXPECT_EQ(got.events[0].buttons, 0u);
    EXPECT_EQ(got.events[1].kind, TESSERA_INPUT_KEY_DOWN);
    EXPECT_EQ(got.events[1].key, 30u);  // KEY_A
    EXPECT_EQ(got.events[2].kind, TESSERA_INPUT_KEY_UP);
    EXPECT_EQ(got.events[2].key, 30u);
    EXPECT_EQ(got.events[3].kind, TESSERA_INPUT_BUTTON_DOWN);
    EXPECT_EQ(got.events[3].button, 1u);
    EXPECT_EQ(got.events[3].buttons, TESSERA_BUTTON_MASK_LEFT);
  }

  // Once removed, the callback is not called again.
  ASSERT_EQ(tessera_set_input_callback(srv, nullptr, nullptr), TESSERA_OK);
  in->write(SPICE_MSGC_INPUTS_MOUSE_RELEASE, WireWriter().u8(1).u16(0).take());
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(got.count(), 4u);
}

// From inside the callback: submitting a frame and replacing the callback neither deadlock nor fail.
TEST_F(EmbedTest, CallbackMaySubmitAndRemoveItself) {
  ASSERT_NO_FATAL_FAILURE(start(config()));
  struct State {
    tessera_server* srv = nullptr;
    Frame frame;
    std::atomic<int> calls{0}, submit_rc{1}, set_rc{1};
  } st;
  st.srv = srv;
  st.frame = pattern(160, 100, 8);
  auto cb = [](const tessera_input_event*, void* user) {
    auto* s = static_cast<State*>(user);
    s->calls++;
    s->submit_rc = tessera_submit_frame(s->srv, s->frame.data(), s->frame.width(), s->frame.height(),
                                        s->frame.stride(), nullptr, 0);
    s->set_rc = tessera_set_input_callback(s->srv, nullptr, nullptr);
  };
  ASSERT_EQ(tessera_set_input_callback(srv, cb, &st), TESSERA_OK);
  DisplayClient d(spice_port());
  ASSERT_TRUE(d.ok()) << d.error;
  d.start();
  auto in = ChannelClient::open(spice_port(), d.session_id, SPICE_CHANNEL_INPUTS, "", {});
  ASSERT_TRUE(in);
  for (int i = 0; i < 3; ++i)
    in->write(SPICE_MSGC_INPUTS_MOUSE_POSITION, WireWriter().u32(uint32_t(i)).u32(5).u16(0).u8(0).take());
  EXPECT_TRUE(d.wait_until([&](const DisplayClient& cl) { return shows(cl, st.frame); })) << d.error;
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(st.calls.load(), 1);
  EXPECT_EQ(st.submit_rc.load(), TESSERA_OK);
  EXPECT_EQ(st.set_rc.load(), TESSERA_OK);
}

TEST_F(EmbedTest, WrongPasswordIsRefused) {
  tessera_config c = config();
  std::string password = "correct horse";
  c.password = password.c_str();
  ASSERT_NO_FATAL_FAILURE(start(c));
  password.assign(password.size(), 'x');  // the library keeps its own copy
  Frame a = pattern(160, 100, 1);
  ASSERT_EQ(submit(a), TESSERA_OK);

  DisplayClient good(spice_port(), {.password = "correct horse", .lz4 = true, .tls = {}, .sasl_user = {}});
  ASSERT_TRUE(good.ok()) << good.error;
  good.start();
  EXPECT_TRUE(good.wait_until([&](const DisplayClient& cl) { return cl.marked && shows(cl, a); })) << good.error;

  LinkOutcome out;
  EXPECT_FALSE(ChannelClient::open(spice_port(), 0, SPICE_CHANNEL_MAIN, "battery staple", {}, &out));
  EXPECT_EQ(out.auth_result, uint32_t(SPICE_LINK_ERR_PERMISSION_DENIED));
  EXPECT_TRUE(logs.wait_for("wrong password"));
  EXPECT_FALSE(logs.contains("correct horse")) << "the password reached the log";
  EXPECT_FALSE(logs.contains("battery staple"));
}

TEST_F(EmbedTest, VncServesTheSameFrame) {
  tessera_config c = config();
  c.spice_port = -1;
  c.vnc_port = 0;
  ASSERT_NO_FATAL_FAILURE(start(c));
  EXPECT_EQ(tessera_server_port(srv, TESSERA_PORT_SPICE), 0);  // off
  int port = tessera_server_port(srv, TESSERA_PORT_VNC);
  ASSERT_GT(port, 0) << tessera_last_error(srv);
  Frame a = pattern(160, 100, 6);
  ASSERT_EQ(submit(a), TESSERA_OK);
  std::this_thread::sleep_for(200ms);  // a capture tick takes it into the hub

  RawConn v{uint16_t(port)};
  EXPECT_EQ(vnc_hello(v), std::vector<uint8_t>{1});  // None: no password
  v.send(std::vector<uint8_t>{1});
  auto result = read_bytes(v, 4);
  ASSERT_EQ(result.size(), 4u);
  EXPECT_EQ(be32(result), 0u);
  Frame fb = vnc_init_and_frame(v);
  ASSERT_EQ(fb.size(), a.size());
  EXPECT_TRUE(fb.same_pixels(a, a.bounds()));
}

TEST_F(EmbedTest, VncPasswordOnlyWithTheExplicitFlag) {
  tessera_config c = config();
  c.vnc_port = 0;
  c.password = "s3cret!x";
  char err[256];
  EXPECT_EQ(tessera_server_new(&c, err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("allow_vnc_auth_without_tls"), std::string::npos) << err;

  c.allow_vnc_auth_without_tls = 1;
  ASSERT_NO_FATAL_FAILURE(start(c));
  int port = tessera_server_port(srv, TESSERA_PORT_VNC);
  ASSERT_GT(port, 0);
  for (std::string pw : {"s3cret!x", "wrong"}) {
    RawConn v{uint16_t(port)};
    EXPECT_EQ(vnc_hello(v), std::vector<uint8_t>{2});  // VNC authentication
    v.send(std::vector<uint8_t>{2});
    auto ch = read_bytes(v, 16);
    ASSERT_EQ(ch.size(), 16u);
    VncChallenge challenge{};
    std::copy(ch.begin(), ch.end(), challenge.begin());
    auto resp = vnc_auth_response(pw, challenge);
    v.send(std::vector<uint8_t>(resp.begin(), resp.end()));
    auto result = read_bytes(v, 4);
    ASSERT_EQ(result.size(), 4u);
    EXPECT_EQ(be32(result), pw == "wrong" ? 1u : 0u) << pw;
  }
  EXPECT_FALSE(logs.contains("s3cret")) << "the password reached the log";
}

TEST_F(EmbedTest, BadConfigsAreRefusedWithAReason) {
  char err[256];
  auto refused = [&](const tessera_config* c, const std::string& needle) {
    std::strcpy(err, "not written");
    tessera_server* s = tessera_server_new(c, err, sizeof err);
    EXPECT_EQ(s, nullptr) << needle;
    tessera_server_free(s);
    EXPECT_NE(std::string(err).find(needle), std::string::npos) << "expected '" << needle << "' in: " << err;
    EXPECT_STREQ(tessera_last_error(nullptr), err);
  };
  refused(nullptr, "config is NULL");
  tessera_config c = config();
  c.struct_size = 0;
  refused(&c, "struct_size");
  c = config();
  c.struct_size = sizeof(tessera_config) - 1;
  refused(&c, "struct_size");
  c = config();
  c.spice_port = -1;
  refused(&c, "nothing to serve");
  c = config();
  c.spice_port = 70000;
  refused(&c, "spice_port");
  c = config();
  c.width = 0;
  refused(&c, "out of range");
  c = config();
  c.height = TESSERA_MAX_DIMENSION + 1;
  refused(&c, "out of range");
  c = config();
  c.fps = 0;
  refused(&c, "fps");
  c = config();
  c.log_level = 42;
  refused(&c, "log_level");
  c = config();
  std::string long_password(61, 'p');
  c.password = long_password.c_str();
  refused(&c, "longer than 60");
  EXPECT_EQ(std::string(err).find(long_password), std::string::npos);
  c.password = "";
  refused(&c, "password is empty");

  // A message longer than the buffer is cut and terminated.
  c = config();
  c.spice_port = -1;
  char tiny[8];
  EXPECT_EQ(tessera_server_new(&c, tiny, sizeof tiny), nullptr);
  EXPECT_EQ(std::strlen(tiny), 7u);
  EXPECT_EQ(tessera_server_new(&c, nullptr, 0), nullptr);  // no buffer at all: still safe

  // A newer header's larger struct: accepted while the fields this library does not know are zero.
  struct Newer {
    tessera_config c;
    uint64_t newer_field;
  } newer;
  std::memset(&newer, 0, sizeof newer);
  newer.c = config();
  newer.c.struct_size = sizeof newer;
  tessera_server* s = tessera_server_new(&newer.c, err, sizeof err);
  EXPECT_NE(s, nullptr) << err;
  tessera_server_free(s);
  newer.newer_field = 1;
  EXPECT_EQ(tessera_server_new(&newer.c, err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("does not know"), std::string::npos) << err;
}

TEST_F(EmbedTest, BadCallsGiveCodesAndReasons) {
  EXPECT_EQ(tessera_api_version(), TESSERA_API_VERSION);
  EXPECT_STREQ(tessera_strerror(TESSERA_E_INVALID), "invalid argument");
  ASSERT_NO_FATAL_FAILURE(start(config()));
  Frame f = pattern(160, 100, 1);
  auto reason = [&](const tessera_server* s) { return std::string(tessera_last_error(s)); };

  EXPECT_EQ(tessera_submit_frame(nullptr, f.data(), 160, 100, 640, nullptr, 0), TESSERA_E_INVALID);
  EXPECT_NE(reason(nullptr).find("srv is NULL"), std::string::npos) << reason(nullptr);
  EXPECT_EQ(tessera_submit_frame(srv, nullptr, 160, 100, 640, nullptr, 0), TESSERA_E_INVALID);
  EXPECT_NE(reason(srv).find("NULL"), std::string::npos) << reason(srv);
  EXPECT_EQ(tessera_submit_frame(srv, f.data(), 0, 100, 640, nullptr, 0), TESSERA_E_INVALID);
  EXPECT_EQ(tessera_submit_frame(srv, f.data(), 160, -1, 640, nullptr, 0), TESSERA_E_INVALID);
  EXPECT_EQ(tessera_submit_frame(srv, f.data(), TESSERA_MAX_DIMENSION + 1, 1, 1 << 20, nullptr, 0),
            TESSERA_E_INVALID);
  EXPECT_EQ(tessera_submit_frame(srv, f.data(), 160, 100, 639, nullptr, 0), TESSERA_E_INVALID);
  EXPECT_NE(reason(srv).find("stride 639"), std::string::npos) << reason(srv);
  EXPECT_EQ(tessera_submit_frame(srv, f.data(), 160, 100, -640, nullptr, 0), TESSERA_E_INVALID);
  EXPECT_EQ(tessera_submit_frame(srv, f.data(), 160, 100, 640, nullptr, 2), TESSERA_E_INVALID);
  EXPECT_NE(reason(srv).find("n_damage"), std::string::npos) << reason(srv);
  tessera_rect negative{10, 10, -5, 5};
  EXPECT_EQ(tessera_submit_frame(srv, f.data(), 160, 100, 640, &negative, 1), TESSERA_E_INVALID);
  EXPECT_NE(reason(srv).find("damage[0]"), std::string::npos) << reason(srv);
  // Wholly outside, or far larger than the frame (x + width overflows 32 bits): clipped, not an error.
  tessera_rect outside[2] = {{500, 500, 10, 10}, {-1000, -1000, 2147483647, 2147483647}};
  EXPECT_EQ(tessera_submit_frame(srv, f.data(), 160, 100, 640, outside, 2), TESSERA_OK) << reason(srv);
  EXPECT_EQ(reason(srv), "");
  // Many rectangles: fine too (their bounding box).
  std::vector<tessera_rect> many;
  for (int i = 0; i < 400; ++i) many.push_back({i % 160, i % 100, 1, 1});
  EXPECT_EQ(tessera_submit_frame(srv, f.data(), 160, 100, 640, many.data(), many.size()), TESSERA_OK);

  EXPECT_EQ(tessera_server_port(nullptr, TESSERA_PORT_SPICE), TESSERA_E_INVALID);
  EXPECT_EQ(tessera_server_port(srv, 3), TESSERA_E_INVALID);
  EXPECT_NE(reason(srv).find("which"), std::string::npos);
  EXPECT_EQ(tessera_server_port(srv, TESSERA_PORT_VNC), 0);  // off
  EXPECT_EQ(tessera_server_start(nullptr), TESSERA_E_INVALID);
  EXPECT_EQ(tessera_server_start(srv), TESSERA_E_STATE);
  EXPECT_NE(reason(srv).find("already started"), std::string::npos);
  EXPECT_EQ(tessera_set_input_callback(nullptr, collect, nullptr), TESSERA_E_INVALID);
  tessera_server_free(nullptr);  // ignored
}

TEST_F(EmbedTest, StartFailsWhenThePortIsTaken) {
  ASSERT_NO_FATAL_FAILURE(start(config()));
  tessera_config c = config();
  c.spice_port = spice_port();
  char err[256];
  tessera_server* other = tessera_server_new(&c, err, sizeof err);
  ASSERT_NE(other, nullptr) << err;
  EXPECT_EQ(tessera_server_start(other), TESSERA_E_IO);
  EXPECT_NE(std::string(tessera_last_error(other)).find("cannot listen"), std::string::npos)
      << tessera_last_error(other);
  EXPECT_EQ(tessera_server_start(other), TESSERA_E_STATE);
  EXPECT_EQ(tessera_server_port(other, TESSERA_PORT_SPICE), TESSERA_E_STATE);
  tessera_server_free(other);
  // The first server is untouched.
  Frame a = pattern(160, 100, 2);
  ASSERT_EQ(submit(a), TESSERA_OK);
  DisplayClient d(spice_port());
  ASSERT_TRUE(d.ok()) << d.error;
  d.start();
  EXPECT_TRUE(d.wait_until([&](const DisplayClient& cl) { return shows(cl, a); })) << d.error;
}

TEST_F(EmbedTest, FreeWithAViewerConnectedDisconnectsIt) {
  ASSERT_NO_FATAL_FAILURE(start(config()));
  Frame a = pattern(160, 100, 3);
  ASSERT_EQ(submit(a), TESSERA_OK);
  DisplayClient d(spice_port());
  ASSERT_TRUE(d.ok()) << d.error;
  d.start();
  ASSERT_TRUE(d.wait_until([&](const DisplayClient& cl) { return shows(cl, a); })) << d.error;
  auto t0 = std::chrono::steady_clock::now();
  tessera_server_free(srv);
  srv = nullptr;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_TRUE(d.wait_until([&](const DisplayClient& cl) { return !cl.error.empty(); }, 5000));
}
