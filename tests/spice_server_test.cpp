// The SPICE server against the test client: pictures, sessions, authentication, and hostile
// or slow clients, each of which must lose only its own connection, with a logged reason.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "auth/ticket_key.h"
#include "capture/capture_loop.h"
#include "capture/frame_source.h"
#include "capture/demo_source.h"
#include "tests/alternating_source.h"
#include "tests/log_capture.h"
#include "transport/net/acceptor.h"
#include "transport/net/refusal_log.h"
#include "tests/spice_test_client.h"
#include "transport/spice/spice_server.h"

using namespace tessera;
using namespace tessera::spice;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

std::vector<uint8_t> link_header(uint32_t magic, uint32_t size) {
  return WireWriter().u32(magic).u32(2).u32(2).u32(size).take();
}

std::vector<uint8_t> link_request(uint32_t conn_id, uint8_t type) {
  Caps common;
  set_cap(common, SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION);
  set_cap(common, SPICE_COMMON_CAP_AUTH_SPICE);
  set_cap(common, SPICE_COMMON_CAP_MINI_HEADER);
  return build_link_request(conn_id, type, 0, common, {});
}

uint32_t reply_error(RawConn& c) {
  uint8_t buf[16 + 178];
  if (!c.recv(buf, sizeof buf)) return 0xFFFFFFFF;
  return WireReader(std::span(buf).subspan(16), "reply").u32();
}

// Links a channel up to (not including) the ticket: returns the server's public key.
std::vector<uint8_t> link_until_ticket(RawConn& c, uint32_t conn_id, uint8_t type) {
  c.send(link_request(conn_id, type));
  uint8_t buf[16 + 178 + 64];
  EXPECT_TRUE(c.recv(buf, 16));
  WireReader h(std::span(buf, 16), "reply header");
  h.u32();
  h.u32();
  h.u32();
  uint32_t size = h.u32();
  std::vector<uint8_t> reply(size);
  EXPECT_TRUE(c.recv(reply.data(), size));
  return std::vector<uint8_t>(reply.begin() + 4, reply.begin() + 4 + 162);
}

std::vector<uint8_t> ticket(std::span<const uint8_t> key, const std::string& pw) {
  std::vector<uint8_t> plain(pw.begin(), pw.end());
  plain.push_back(0);
  return TicketKey::encrypt_for(key, plain);
}

// Links a raw main channel through authentication (no password) and returns the u32 result.
uint32_t open_raw_main(RawConn& c) {
  auto key = link_until_ticket(c, 0, SPICE_CHANNEL_MAIN);
  c.send(WireWriter().u32(SPICE_COMMON_CAP_AUTH_SPICE).take());
  c.send(ticket(key, ""));
  uint8_t result[4];
  if (!c.recv(result, 4)) return 0xFFFFFFFF;
  return WireReader(result, "result").u32();
}

}  // namespace

class SpiceServerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server) server->stop();
    if (loop) loop->stop();
    hub.close();
  }

  // A server over a hub that tests fill by hand.
  void start_static(TicketPolicy policy = TicketPolicy::disabled(), SpiceServerConfig cfg = {}) {
    cfg.port = 0;
    server = std::make_unique<SpiceServer>(cfg, hub, std::move(policy), [this](const InputEvent& e) {
      std::lock_guard lock(input_mu);
      inputs.push_back(e);
    });
    server->start();
  }

  // A server over the live demo desktop.
  void start_live(Size size = {160, 100}, TicketPolicy policy = TicketPolicy::disabled(), SpiceServerConfig cfg = {}) {
    demo = std::make_unique<DemoSource>(size, 30);
    loop = std::make_unique<CaptureLoop>(*demo, hub, 30);
    loop->start();
    start_static(std::move(policy), cfg);
  }

  uint16_t port() const { return server->port(); }

  // A client watching the live desktop in the background.
  std::unique_ptr<DisplayClient> watcher() {
    auto c = std::make_unique<DisplayClient>(port());
    EXPECT_TRUE(c->ok()) << c->error;
    c->start();
    EXPECT_TRUE(c->wait_until([](const DisplayClient& d) { return d.marked; }));
    return c;
  }

  // The watcher is still receiving frames: its draw count grows.
  void expect_still_served(DisplayClient& w) {
    uint64_t before = 0;
    w.wait_until([&](const DisplayClient& d) { before = d.draws; return true; });
    EXPECT_TRUE(w.wait_until([&](const DisplayClient& d) { return d.draws >= before + 3; }, 5000))
        << "the well-behaved client stopped receiving frames; its error: " << w.error;
  }

  LogCapture logs;
  FrameHub hub;
  std::unique_ptr<DemoSource> demo;
  std::unique_ptr<CaptureLoop> loop;
  std::unique_ptr<SpiceServer> server;
  std::mutex input_mu;
  std::vector<InputEvent> inputs;
};

// ---- pictures ----------------------------------------------------------------------------

class SpicePictures : public SpiceServerTest, public ::testing::WithParamInterface<ImageCodec> {};

// Every --image-codec setting: the first frame and then damaged parts arrive exact, in the
// image forms the setting allows.
TEST_P(SpicePictures, FirstFrameThenDamageArriveExact) {
  const ImageCodec codec = GetParam();
  DemoSource d({333, 217}, 30);
  auto f0 = std::make_shared<Frame>(d.render(0));
  hub.publish(f0, Region(f0->bounds()));
  SpiceServerConfig cfg;
  cfg.port = 0;
  cfg.channel.image_codec = codec;
  start_static(TicketPolicy::disabled(), cfg);
  DisplayClient c(port(), {.password = "", .lz4 = true, .tls = {}, .sasl_user = {}});
  ASSERT_TRUE(c.ok()) << c.error;
  c.start();
  ASSERT_TRUE(c.wait_until([&](const DisplayClient& x) {
    return x.marked && x.monitors_config && x.surface.size() == f0->size() && x.surface.same_pixels(*f0, f0->bounds());
  })) << c.error;
  uint64_t first_draws = 0;
  c.wait_until([&](const DisplayClient& x) { first_draws = x.draws; return true; });
  EXPECT_EQ(first_draws, 1u);  // the first draw is one full-frame image (spicy-screenshot relies on it)

  for (uint64_t i = 1; i <= 12; ++i) {
    auto f = std::make_shared<Frame>(d.render(i));
    hub.publish(f, d.damage_between(i - 1, i));
    ASSERT_TRUE(c.wait_until([&](const DisplayClient& x) { return x.surface.same_pixels(*f, f->bounds()); }))
        << "tick " << i << ": " << c.error;
  }
  c.stop();
  EXPECT_TRUE(c.error.empty()) << c.error;
  const uint64_t others = c.draws - c.cache_hits;
  switch (codec) {
    case ImageCodec::Off: EXPECT_EQ(c.bitmap_draws, others); break;
    case ImageCodec::Lz4: EXPECT_GT(c.lz4_draws, 0u); EXPECT_EQ(c.lz4_draws + c.bitmap_draws, others); break;
    case ImageCodec::Glz: EXPECT_GT(c.glz_draws, 0u); EXPECT_EQ(c.glz_draws + c.bitmap_draws, others); break;
    case ImageCodec::Palette:
      EXPECT_GT(c.palette_draws, 0u);
      EXPECT_EQ(c.palette_draws + c.bitmap_draws, others);
      break;
    case ImageCodec::Auto: EXPECT_GT(c.glz_draws + c.lz4_draws + c.palette_draws, 0u); break;
  }
}

INSTANTIATE_TEST_SUITE_P(ImageCodecs, SpicePictures,
                         ::testing::Values(ImageCodec::Auto, ImageCodec::Glz, ImageCodec::Lz4, ImageCodec::Palette,
                                           ImageCodec::Off),
                         [](const ::testing::TestParamInfo<ImageCodec>& p) { return std::string(to_string(p.param)); });

TEST_F(SpiceServerTest, SizeChangeCreatesANewSurface) {
  auto small = std::make_shared<Frame>(40, 30);
  small->fill(small->bounds(), bgrx(10, 20, 30));
  hub.publish(small, Region(small->bounds()));
  start_static();
  DisplayClient c(port());
  c.start();
  ASSERT_TRUE(c.wait_until([&](const DisplayClient& x) { return x.marked && x.surface.width() == 40; }));
  auto big = std::make_shared<Frame>(97, 61);
  big->fill(big->bounds(), bgrx(200, 100, 0));
  big->fill({5, 5, 10, 10}, bgrx(1, 2, 3));
  hub.publish(big, Region(Rect{0, 0, 1, 1}));  // the hub makes a size change a full update
  EXPECT_TRUE(c.wait_until([&](const DisplayClient& x) {
    return x.surface.size() == big->size() && x.marked && x.surface.same_pixels(*big, big->bounds());
  })) << c.error;
}

TEST_F(SpiceServerTest, SeveralClientsWatchOneDisplay) {
  start_live();
  std::vector<std::unique_ptr<DisplayClient>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(watcher());
  EXPECT_EQ(server->session_count(), 3u);
  for (auto& c : clients) expect_still_served(*c);
}

// ---- sessions and channels ---------------------------------------------------------------

TEST_F(SpiceServerTest, MainChannelBringUp) {
  start_live();
  Caps main_caps;
  set_cap(main_caps, SPICE_MAIN_CAP_NAME_AND_UUID);
  LinkOutcome out;
  auto main = ChannelClient::open(port(), 0, SPICE_CHANNEL_MAIN, "", main_caps, &out);
  ASSERT_TRUE(main);
  EXPECT_TRUE(has_cap(out.common_caps, SPICE_COMMON_CAP_MINI_HEADER));
  EXPECT_TRUE(has_cap(out.common_caps, SPICE_COMMON_CAP_AUTH_SPICE));
  EXPECT_FALSE(has_cap(out.common_caps, SPICE_COMMON_CAP_AUTH_SASL));
  auto init = main->read();
  ASSERT_TRUE(init);
  ASSERT_EQ(init->type, SPICE_MSG_MAIN_INIT);  // INIT is the first main message
  WireReader r(init->body, "init");
  EXPECT_NE(r.u32(), 0u);
  r.u32();
  EXPECT_EQ(r.u32(), uint32_t(SPICE_MOUSE_MODE_SERVER | SPICE_MOUSE_MODE_CLIENT));
  EXPECT_EQ(r.u32(), uint32_t(SPICE_MOUSE_MODE_CLIENT));
  EXPECT_EQ(main->read()->type, SPICE_MSG_MAIN_NAME);
  EXPECT_EQ(main->read()->type, SPICE_MSG_MAIN_UUID);

  main->write(SPICE_MSGC_MAIN_ATTACH_CHANNELS);
  auto list = main->read();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->type, SPICE_MSG_MAIN_CHANNELS_LIST);
  WireReader l(list->body, "list");
  uint32_t n = l.u32();
  std::set<uint8_t> types;
  for (uint32_t i = 0; i < n; ++i) {
    types.insert(l.u8());
    l.u8();
  }
  EXPECT_EQ(types, (std::set<uint8_t>{SPICE_CHANNEL_DISPLAY, SPICE_CHANNEL_INPUTS, SPICE_CHANNEL_CURSOR}));

  main->write(SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST, WireWriter().u16(SPICE_MOUSE_MODE_SERVER).take());
  auto mode = main->read();
  ASSERT_TRUE(mode);
  ASSERT_EQ(mode->type, SPICE_MSG_MAIN_MOUSE_MODE);
  WireReader m(mode->body, "mode");
  m.u16();
  EXPECT_EQ(m.u16(), SPICE_MOUSE_MODE_SERVER);
}

// A server-side socket of a loopback connection (the client end stays open).
class SocketLiveness : public ::testing::Test {
 protected:
  void SetUp() override {
    listener_ = net::listen_tcp("127.0.0.1", 0);
    ASSERT_GE(listener_, 0);
    client_ = std::make_unique<RawConn>(net::local_port(listener_));
    fd = ::accept(listener_, nullptr, nullptr);
    ASSERT_GE(fd, 0);
    socket = std::make_unique<net::Socket>(fd);
  }
  void TearDown() override { ::close(listener_); }
  int listener_ = -1, fd = -1;
  std::unique_ptr<RawConn> client_;
  std::unique_ptr<net::Socket> socket;
};

// Every connection asks the kernel to notice a peer that vanished without a FIN.
TEST_F(SocketLiveness, KeepaliveAndUnackedTimeoutAreSet) {
  auto get = [&](int level, int name) {
    int v = -1;
    socklen_t n = sizeof v;
    EXPECT_EQ(::getsockopt(fd, level, name, &v, &n), 0);
    return v;
  };
  EXPECT_EQ(get(SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(get(IPPROTO_TCP, TCP_KEEPIDLE), net::Socket::kKeepAliveIdleS);
  EXPECT_EQ(get(IPPROTO_TCP, TCP_KEEPINTVL), net::Socket::kKeepAliveIntervalS);
  EXPECT_EQ(get(IPPROTO_TCP, TCP_KEEPCNT), net::Socket::kKeepAliveProbes);
  EXPECT_EQ(get(IPPROTO_TCP, TCP_USER_TIMEOUT), int(net::Socket::kUnackedTimeoutMs));
}

// Silence counts against a peer only while it is its turn: not while the server works for it.
TEST_F(SocketLiveness, SilenceDoesNotCountWhileTheServerIsBusy) {
  net::Socket& s = *socket;
  std::this_thread::sleep_for(60ms);
  EXPECT_GE(s.silent_for(), 40ms);
  {
    net::Socket::Busy busy(s);
    EXPECT_EQ(s.silent_for(), 0ms);
  }
  EXPECT_GE(s.silent_for(), 40ms);
}

// Refused connections: one log line a second at most, the next one counting the rest (SPICE
// and VNC share this).
TEST(RefusalLogTest, OneLineASecondCountingTheRest) {
  LogCapture logs;
  net::RefusalLog log("test");
  auto t = net::RefusalLog::Clock::now();
  for (int i = 0; i < 5; ++i) log.note("refusing " + std::to_string(i), t + std::chrono::milliseconds(i * 100));
  log.note("refusing late", t + 1500ms);
  EXPECT_EQ(log.total(), 6u);
  const std::string all = logs.all();
  EXPECT_NE(all.find("test: refusing 0"), std::string::npos);
  EXPECT_EQ(all.find("refusing 1"), std::string::npos);
  EXPECT_NE(all.find("test: refusing late (and 4 more refusals in the last second)"), std::string::npos) << all;
}

// The accept loop both servers use: each admitted connection on its own thread with the index of
// its listening socket, the cap refusing the next one (logged), and stop() ending the rest.
TEST(AcceptorTest, AdmitsUpToTheCapEachOnItsOwnThreadAndStopEndsThem) {
  LogCapture logs;
  std::mutex mu;
  std::vector<size_t> listeners;
  std::atomic<int> serving{0}, ended{0};
  net::Acceptor acceptor("test", std::make_shared<AuthGuard>(AuthLimits{}), 2,
                         [&](std::unique_ptr<net::Socket> s, size_t listener, std::unique_ptr<AuthGuard::Slot>,
                             net::Acceptor::Lease& lease) {
                           {
                             std::lock_guard lock(mu);
                             listeners.push_back(listener);
                           }
                           ++serving;
                           uint8_t b;
                           try {
                             s->read_exact(&b, 1, 0ms, "a byte that never comes");  // until stop() shuts it
                           } catch (const std::exception&) {
                           }
                           lease.forget();
                           ++ended;
                         });
  int fd0 = net::listen_tcp("127.0.0.1", 0), fd1 = net::listen_tcp("127.0.0.1", 0);
  const uint16_t p0 = net::local_port(fd0), p1 = net::local_port(fd1);
  acceptor.start({fd0, fd1});
  RawConn a(p0), b(p1);
  for (int i = 0; i < 200 && serving < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(serving, 2);
  EXPECT_EQ(acceptor.connection_count(), 2u);
  RawConn refused(p0);
  EXPECT_TRUE(refused.wait_closed(3000));
  EXPECT_EQ(acceptor.refused(), 1u);
  EXPECT_NE(logs.all().find("test: refusing 127.0.0.1"), std::string::npos) << logs.all();
  EXPECT_NE(logs.all().find("2 connections open (limit)"), std::string::npos) << logs.all();
  acceptor.stop();
  EXPECT_EQ(ended, 2);
  EXPECT_EQ(acceptor.connection_count(), 0u);
  std::sort(listeners.begin(), listeners.end());
  EXPECT_EQ(listeners, (std::vector<size_t>{0, 1}));
}

// A peer that closes is a typed error that says how much of the read had come.
TEST(SocketErrors, APeerThatClosesIsATypedError) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  net::Socket s(fds[0]);
  ASSERT_EQ(::write(fds[1], "abc", 3), 3);
  ::close(fds[1]);
  uint8_t buf[8];
  try {
    s.read_exact(buf, 5, 1000ms, "a thing");
    ADD_FAILURE() << "no error";
  } catch (const net::PeerClosedError& e) {
    EXPECT_EQ(e.got, 3u);
  }
  try {
    s.read_exact(buf, 1, 1000ms, "the next thing");
    ADD_FAILURE() << "no error";
  } catch (const net::PeerClosedError& e) {
    EXPECT_EQ(e.got, 0u);  // between reads: how a client that is done leaves
  }
}

// A quiet channel gets PINGs; a client that answers them stays, one that has vanished (nothing
// comes back, not even a PONG) is closed after the peer timeout.
TEST_F(SpiceServerTest, QuietClientsArePingedAndVanishedOnesClosed) {
  SpiceServerConfig cfg;
  cfg.channel.ping_interval = 100ms;
  cfg.channel.peer_timeout = 600ms;
  start_static(TicketPolicy::disabled(), cfg);
  hub.publish(std::make_shared<Frame>(64, 64), Region(Rect{0, 0, 64, 64}));
  auto main = ChannelClient::open(port(), 0, SPICE_CHANNEL_MAIN, "", {});
  ASSERT_TRUE(main);
  // Answering: well past the timeout, still served.
  int pings = 0;
  auto until = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < until) {
    auto m = main->read(1000);
    ASSERT_TRUE(m) << "closed while answering PINGs";
    if (m->type != SPICE_MSG_PING) continue;
    ++pings;
    main->write(SPICE_MSGC_PONG, m->body);
  }
  EXPECT_GE(pings, 5);
  // Silent from now on: closed within the timeout (and a second or so of slack).
  auto silent_since = std::chrono::steady_clock::now();
  while (main->read(3000)) {
  }
  auto took = std::chrono::steady_clock::now() - silent_since;
  EXPECT_GE(took, 500ms);
  EXPECT_LT(took, 2500ms);
  EXPECT_TRUE(logs.wait_for("not even a PONG: it is gone"));
}

TEST_F(SpiceServerTest, FullHeaderClientsAreServedWithFullHeaders) {
  start_live();
  RawConn c(port());
  Caps common;
  set_cap(common, SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION);
  set_cap(common, SPICE_COMMON_CAP_AUTH_SPICE);
  c.send(build_link_request(0, SPICE_CHANNEL_MAIN, 0, common, {}));
  uint8_t reply[16 + 178 + 8];
  ASSERT_TRUE(c.recv(reply, sizeof reply));
  auto key = std::vector<uint8_t>(reply + 20, reply + 20 + 162);
  c.send(WireWriter().u32(1).take());
  c.send(ticket(key, ""));
  uint8_t result[4];
  ASSERT_TRUE(c.recv(result, 4));
  EXPECT_EQ(result[0], 0);
  uint8_t h[18];
  ASSERT_TRUE(c.recv(h, 18));
  WireReader r(h, "header");
  EXPECT_EQ(r.u64(), 1u);  // serial
  EXPECT_EQ(r.u16(), SPICE_MSG_MAIN_INIT);
  EXPECT_EQ(r.u32(), 32u);
}

TEST_F(SpiceServerTest, ClosingMainEndsTheSession) {
  start_live();
  auto c = watcher();
  EXPECT_EQ(server->session_count(), 1u);
  c->main()->conn().shutdown_write();
  EXPECT_TRUE(c->wait_until([](const DisplayClient& d) { return !d.error.empty(); }, 5000))
      << "display channel survived its session";
  EXPECT_TRUE(logs.wait_for("session ended"));
  c->stop();
  for (int i = 0; i < 100 && server->session_count(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(server->session_count(), 0u);
}

TEST_F(SpiceServerTest, InputsReachTheSourceAndMotionIsAcked) {
  start_live();
  auto w = watcher();
  auto inputs_ch = ChannelClient::open(port(), w->session_id, SPICE_CHANNEL_INPUTS, "", {});
  ASSERT_TRUE(inputs_ch);
  auto init = inputs_ch->read();
  ASSERT_TRUE(init);
  EXPECT_EQ(init->type, SPICE_MSG_INPUTS_INIT);
  for (int i = 0; i < 8; ++i)
    inputs_ch->write(SPICE_MSGC_INPUTS_MOUSE_POSITION,
                     WireWriter().u32(uint32_t(10 + i)).u32(20).u16(0).u8(0).take());
  inputs_ch->write(SPICE_MSGC_INPUTS_KEY_SCANCODE, std::vector<uint8_t>{0x1E, 0x9E});
  inputs_ch->write(SPICE_MSGC_INPUTS_KEY_DOWN, WireWriter().u32(0x48E0).take());
  inputs_ch->write(SPICE_MSGC_INPUTS_MOUSE_PRESS, WireWriter().u8(1).u16(1).take());
  int acks = 0;
  while (auto m = inputs_ch->read(500))
    if (m->type == SPICE_MSG_INPUTS_MOUSE_MOTION_ACK) ++acks;
  EXPECT_EQ(acks, 2);  // one per SPICE_INPUT_MOTION_ACK_BUNCH motions
  std::lock_guard lock(input_mu);
  ASSERT_EQ(inputs.size(), 12u);
  EXPECT_EQ(inputs[7].kind, InputEvent::Kind::PointerMove);
  EXPECT_EQ(inputs[7].x, 17);
  EXPECT_EQ(inputs[8].kind, InputEvent::Kind::KeyDown);
  EXPECT_EQ(inputs[8].key, 30u);
  EXPECT_EQ(inputs[9].kind, InputEvent::Kind::KeyUp);
  EXPECT_EQ(inputs[10].key, 103u);
  EXPECT_EQ(inputs[11].kind, InputEvent::Kind::ButtonDown);
  EXPECT_EQ(inputs[11].button, 1u);
}

TEST_F(SpiceServerTest, CursorInitSetAndMove) {
  auto f = std::make_shared<Frame>(100, 100);
  hub.publish(f, Region(f->bounds()));
  hub.publish_cursor({default_arrow_cursor(), 10, 10, true});
  start_static();
  auto w = DisplayClient(port());
  ASSERT_TRUE(w.ok());
  auto cur = ChannelClient::open(port(), w.session_id, SPICE_CHANNEL_CURSOR, "", {});
  ASSERT_TRUE(cur);
  auto first = cur->read();
  ASSERT_TRUE(first);
  if (first->type == SPICE_MSG_SET_ACK) first = cur->read();
  ASSERT_TRUE(first);
  ASSERT_EQ(first->type, SPICE_MSG_CURSOR_INIT);
  WireReader r(first->body, "init");
  EXPECT_EQ(r.u16(), 10);
  // Client mouse mode: position changes are not sent (the client draws its own pointer).
  hub.publish_cursor({default_arrow_cursor(), 20, 20, true});
  auto none = cur->read(300);
  EXPECT_FALSE(none) << "unexpected message " << none->type;
  // Server mouse mode: moves are.
  w.main()->write(SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST, WireWriter().u16(SPICE_MOUSE_MODE_SERVER).take());
  std::this_thread::sleep_for(100ms);
  hub.publish_cursor({default_arrow_cursor(), 30, 40, true});
  auto mv = cur->read();
  ASSERT_TRUE(mv);
  EXPECT_EQ(mv->type, SPICE_MSG_CURSOR_MOVE);
  WireReader m(mv->body, "move");
  EXPECT_EQ(m.u16(), 30);
  EXPECT_EQ(m.u16(), 40);
  hub.publish_cursor({nullptr, 30, 40, false});
  auto hide = cur->read();
  ASSERT_TRUE(hide);
  EXPECT_EQ(hide->type, SPICE_MSG_CURSOR_HIDE);
}

// ---- authentication ----------------------------------------------------------------------

TEST_F(SpiceServerTest, RightPasswordOpensWrongPasswordIsRefused) {
  start_live({160, 100}, TicketPolicy::with_password("correct horse", std::nullopt));
  DisplayClient good(port(), {.password = "correct horse", .lz4 = true, .tls = {}, .sasl_user = {}});
  ASSERT_TRUE(good.ok()) << good.error;
  good.start();
  EXPECT_TRUE(good.wait_until([](const DisplayClient& d) { return d.marked; }));

  LinkOutcome out;
  EXPECT_FALSE(ChannelClient::open(port(), 0, SPICE_CHANNEL_MAIN, "battery staple", {}, &out));
  EXPECT_EQ(out.auth_result, uint32_t(SPICE_LINK_ERR_PERMISSION_DENIED));
  EXPECT_TRUE(logs.wait_for("authentication failed: wrong password"));
  EXPECT_FALSE(logs.contains("battery staple"));  // no secret in the log
  EXPECT_FALSE(logs.contains("correct horse"));
  // A secondary channel must authenticate too, even with a valid session id.
  EXPECT_FALSE(ChannelClient::open(port(), good.session_id, SPICE_CHANNEL_DISPLAY, "nope", {}, &out));
  EXPECT_EQ(out.auth_result, uint32_t(SPICE_LINK_ERR_PERMISSION_DENIED));
  expect_still_served(good);
}

TEST_F(SpiceServerTest, ExpiredTicketIsRefused) {
  start_live({160, 100}, TicketPolicy::with_password("pw", std::chrono::seconds(0)));
  LinkOutcome out;
  EXPECT_FALSE(ChannelClient::open(port(), 0, SPICE_CHANNEL_MAIN, "pw", {}, &out));
  EXPECT_EQ(out.auth_result, uint32_t(SPICE_LINK_ERR_PERMISSION_DENIED));
  EXPECT_TRUE(logs.wait_for("ticket expired"));
}

// ---- hostile input: each closes only its own connection, with a logged reason -------------

class HostileInput : public SpiceServerTest {
 protected:
  void SetUp() override {
    start_live();
    good = watcher();
  }
  void TearDown() override {
    expect_still_served(*good);
    EXPECT_EQ(server->session_count(), 1u);
    good->stop();
    SpiceServerTest::TearDown();
  }
  // Sends `bytes` on a fresh connection: the server must answer the link with `code`, close
  // the connection, and log `reason`.
  void expect_link_refused(std::span<const uint8_t> bytes, uint32_t code, const std::string& reason) {
    RawConn c(port());
    c.send(bytes);
    EXPECT_EQ(reply_error(c), code);
    EXPECT_TRUE(c.wait_closed());
    EXPECT_TRUE(logs.wait_for(reason)) << "no log line with: " << reason;
  }

  std::unique_ptr<DisplayClient> good;
};

TEST_F(HostileInput, WrongMagic) {
  std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  expect_link_refused({reinterpret_cast<const uint8_t*>(http.data()), http.size()}, SPICE_LINK_ERR_INVALID_MAGIC,
                      "wrong magic 0x20544547");
}

TEST_F(HostileInput, TruncatedLink) {
  RawConn c(port());
  auto req = link_request(0, SPICE_CHANNEL_MAIN);
  c.send(std::span(req).first(20));
  c.shutdown_write();
  EXPECT_TRUE(c.wait_closed());
  EXPECT_TRUE(logs.wait_for("in the middle of link message"));
}

TEST_F(HostileInput, AbsurdLinkSize) {
  expect_link_refused(link_header(SPICE_MAGIC, 2u << 20), SPICE_LINK_ERR_INVALID_DATA,
                      "link message size 2097152 outside");
}

TEST_F(HostileInput, OverflowingCapabilityCounts) {
  WireWriter w;
  w.u32(SPICE_MAGIC).u32(2).u32(2).u32(26);
  w.u32(0).u8(SPICE_CHANNEL_MAIN).u8(0).u32(0xFFFFFFFF).u32(2).u32(18).u32(0).u32(0);
  expect_link_refused(w.buffer(), SPICE_LINK_ERR_INVALID_DATA, "capability words");
}

TEST_F(HostileInput, UnknownChannelType) {
  expect_link_refused(link_request(good->session_id, 42), SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE,
                      "channel 42 (unknown) id 0 is not offered");
}

TEST_F(HostileInput, SecondaryChannelWithUnknownSession) {
  // Only an authenticated client learns that a session id is not live.
  RawConn c(port());
  auto key = link_until_ticket(c, good->session_id ^ 0x5A5A5A5A, SPICE_CHANNEL_DISPLAY);
  c.send(WireWriter().u32(SPICE_COMMON_CAP_AUTH_SPICE).take());
  c.send(ticket(key, ""));
  uint8_t result[4];
  ASSERT_TRUE(c.recv(result, 4));
  EXPECT_EQ(WireReader(result, "result").u32(), uint32_t(SPICE_LINK_ERR_BAD_CONNECTION_ID));
  EXPECT_TRUE(c.wait_closed());
  EXPECT_TRUE(logs.wait_for("which does not exist"));
}

TEST_F(HostileInput, GarbageAfterTheLink) {
  RawConn c(port());
  auto req = link_request(0, SPICE_CHANNEL_MAIN);
  std::vector<uint8_t> junk(64, 0xEE);
  req.insert(req.end(), junk.begin(), junk.end());
  c.send(req);
  EXPECT_TRUE(c.wait_closed());
  EXPECT_TRUE(logs.wait_for("asked for auth mechanism 4008636142"));
}

TEST_F(HostileInput, GarbageTicket) {
  RawConn c(port());
  link_until_ticket(c, 0, SPICE_CHANNEL_MAIN);
  c.send(WireWriter().u32(1).take());
  c.send(std::vector<uint8_t>(128, 0x42));
  uint8_t result[4];
  ASSERT_TRUE(c.recv(result, 4));
  EXPECT_EQ(result[0], 0);  // ticketing is off: any ticket passes
  // ...but then an absurd message is refused.
  c.send(WireWriter().u16(SPICE_MSGC_MAIN_ATTACH_CHANNELS).u32(0xFFFFFFF0).take());
  EXPECT_TRUE(c.wait_closed());
  EXPECT_TRUE(logs.wait_for("claims 4294967280 bytes (limit 1048576)"));
}

TEST_F(HostileInput, ClientVanishesMidMessage) {
  RawConn c(port());
  ASSERT_EQ(open_raw_main(c), uint32_t(SPICE_LINK_ERR_OK));
  c.send(WireWriter().u16(SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST).u32(100).u32(7).take());
  c.shutdown_write();
  EXPECT_TRUE(c.wait_closed());
  EXPECT_TRUE(logs.wait_for("in the middle of message body (4 of 100 bytes)"));
}

TEST_F(HostileInput, MalformedMessageBody) {
  RawConn c(port());
  ASSERT_EQ(open_raw_main(c), uint32_t(SPICE_LINK_ERR_OK));
  c.send(WireWriter().u16(SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST).u32(1).u8(2).take());  // needs 2 bytes
  EXPECT_TRUE(c.wait_closed());
  EXPECT_TRUE(logs.wait_for("message body is truncated"));
}

TEST_F(HostileInput, SilentClientTimesOutInTheLinkStage) {
  server->stop();
  SpiceServerConfig cfg;
  cfg.link_timeout = 300ms;
  good.reset();
  start_static(TicketPolicy::disabled(), cfg);
  good = watcher();
  RawConn c(port());
  auto req = link_request(0, SPICE_CHANNEL_MAIN);
  c.send(std::span(req).first(8));
  EXPECT_TRUE(c.wait_closed(3000));
  EXPECT_TRUE(logs.wait_for("timed out waiting for link header"));
}

// ---- slow clients ------------------------------------------------------------------------

// A viewer that reads 10 KB/s (a slow link) costs the other viewers less than a tenth of the
// pictures they get per second.
TEST_F(SpiceServerTest, AViewerReading10KBsCostsOthersUnderATenthOfTheirFrameRate) {
  SpiceServerConfig cfg;
  cfg.channel.image_codec = ImageCodec::Off;  // each update one whole-screen bitmap
  AlternatingSource src({320, 200});
  loop = std::make_unique<CaptureLoop>(src, hub, 30);
  loop->start();
  start_static(TicketPolicy::disabled(), cfg);
  auto fast = watcher();
  auto rate = [&](std::chrono::milliseconds over) {
    uint64_t a = 0, b = 0;
    fast->wait_until([&](const DisplayClient& d) { a = d.draws; return true; });
    std::this_thread::sleep_for(over);
    fast->wait_until([&](const DisplayClient& d) { b = d.draws; return true; });
    return double(b - a) * 1000.0 / double(over.count());
  };
  rate(500ms);  // settled
  const double alone = rate(2000ms);

  // The slow viewer: a whole session, its display read at 10 KB/s, ACKs and PINGs answered.
  Caps main_caps;
  auto main = ChannelClient::open(port(), 0, SPICE_CHANNEL_MAIN, "", main_caps);
  ASSERT_TRUE(main);
  auto init = main->read();
  ASSERT_TRUE(init);
  const uint32_t session = WireReader(init->body, "init").u32();
  auto slow = ChannelClient::open(port(), session, SPICE_CHANNEL_DISPLAY, "", {});
  ASSERT_TRUE(slow);
  slow->conn().set_receive_buffer(4096);
  slow->write(SPICE_MSGC_DISPLAY_INIT, WireWriter().u8(1).u64(0).u8(1).u32(0).take());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> slow_bytes{0};
  std::thread reader([&] {
    const auto t0 = std::chrono::steady_clock::now();
    uint32_t window = 0, count = 0;
    // Reads `n` bytes 1 KB at a time, keeping to 10 KB/s on average since it began.
    auto take = [&](uint8_t* p, size_t n) {
      for (size_t got = 0; got < n && !stop;) {
        size_t k = std::min<size_t>(1024, n - got);
        if (!slow->conn().recv(p + got, k, 200)) continue;
        got += k;
        slow_bytes += k;
        auto due = t0 + std::chrono::milliseconds(slow_bytes / 10);
        while (!stop && std::chrono::steady_clock::now() < due) std::this_thread::sleep_for(10ms);
      }
      return !stop;
    };
    std::vector<uint8_t> body;
    while (!stop) {
      uint8_t h[6];
      if (!take(h, 6)) break;
      const uint16_t type = uint16_t(h[0] | h[1] << 8);
      const uint32_t size = h[2] | h[3] << 8 | h[4] << 16 | uint32_t(h[5]) << 24;
      body.resize(size);
      if (!take(body.data(), size)) break;
      if (type == SPICE_MSG_SET_ACK) {
        WireReader r(body, "set ack");
        uint32_t gen = r.u32();
        window = r.u32();
        slow->write(SPICE_MSGC_ACK_SYNC, WireWriter().u32(gen).take());
      } else if (type == SPICE_MSG_PING) {
        slow->write(SPICE_MSGC_PONG, body);
      } else if (window && ++count % window == 0) {
        slow->write(SPICE_MSGC_ACK);
      }
    }
  });
  std::this_thread::sleep_for(500ms);
  const double shared = rate(2000ms);
  stop = true;
  reader.join();
  std::printf("fast viewer: %.1f pictures/s alone, %.1f beside a 10 KB/s viewer (which got %llu bytes)\n", alone,
              shared, static_cast<unsigned long long>(slow_bytes.load()));
  EXPECT_GT(alone, 20.0);
  EXPECT_GE(shared, 0.9 * alone);
  loop->stop();
}

TEST_F(SpiceServerTest, ClientThatStopsReadingHoldsUpNobody) {
  SpiceServerConfig cfg;
  cfg.send_timeout = 1000ms;
  cfg.channel.image_codec = ImageCodec::Off;  // bitmaps fill socket buffers quickly
  start_live({640, 400}, TicketPolicy::disabled(), cfg);
  auto good = watcher();

  // One stalled client never reads and never acks: the ACK window stops the server after
  // two windows, and its connection just waits.
  DisplayClient stalled(port(), {.password = "", .lz4 = false, .tls = {}, .sasl_user = {}});
  ASSERT_TRUE(stalled.ok());
  // Another acks blindly but never reads, so its socket fills and the server's send times out.
  DisplayClient reader_less(port(), {.password = "", .lz4 = false, .tls = {}, .sasl_user = {}});
  ASSERT_TRUE(reader_less.ok());
  auto flood = ChannelClient::open(port(), reader_less.session_id, SPICE_CHANNEL_DISPLAY, "", {});
  ASSERT_TRUE(flood);
  flood->conn().set_receive_buffer(4096);
  flood->conn().send(WireWriter().u16(SPICE_MSGC_ACK_SYNC).u32(4).u32(1).take());
  std::atomic<bool> stop{false};
  std::thread acker([&] {
    // ACKs only count for messages already sent, so keep them coming.
    auto ack = WireWriter().u16(SPICE_MSGC_ACK).u32(0).take();
    for (int i = 0; i < 3000 && !stop; ++i) {
      try {
        flood->conn().send(ack);
      } catch (const std::exception&) {
        return;
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  expect_still_served(*good);
  EXPECT_TRUE(logs.wait_for("client stopped reading: send timed out", 15000));
  expect_still_served(*good);
  stop = true;
  acker.join();
}
