// TLS, SASL and the link-stage limits of the SPICE server, against the test client: pictures
// stay exact through TLS and SASL; a missing, revoked or foreign client certificate, a plain
// client on the TLS port, a stalled handshake, hostile SASL framing, a crowd of unauthenticated
// connections and repeated wrong passwords are each refused with a logged reason.
#include <gtest/gtest.h>
#include <sasl/sasl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "auth/auth_guard.h"
#include "auth/sasl_auth.h"
#include "capture/demo_source.h"
#include "tests/log_capture.h"
#include "tests/spice_test_client.h"
#include "tests/test_pki.h"
#include "transport/spice/sasl_link.h"
#include "transport/spice/spice_server.h"

using namespace tessera;
using namespace tessera::spice;
using namespace tessera::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kUser = "alice";
constexpr const char* kPassword = "correct-horse-42";
constexpr const char* kOtherUser = "bob";
constexpr const char* kOtherPassword = "battery-staple-7";

std::string g_root;

DisplayClient::Options opts(TlsClientOptions tls, std::string user = "", std::string password = "") {
  DisplayClient::Options o;
  o.tls = std::move(tls);
  o.sasl_user = std::move(user);
  o.password = std::move(password);
  return o;
}

class SpiceSecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_root = (fs::temp_directory_path() / ("tessera-security-test-" + std::to_string(::getpid()))).string();
    fs::remove_all(g_root);
    write_test_pki(g_root + "/pki");
    fs::create_directories(g_root + "/crl");
    for (const char* f : {"ca-cert.pem", "server-cert.pem", "server-key.pem"})
      fs::copy_file(g_root + "/pki/" + f, g_root + "/crl/" + f);
    write_test_crl(g_root + "/pki", g_root + "/crl/ca-crl.pem");

    // Cyrus with a private password database holding one user.
    fs::create_directories(g_root + "/sasl");
    std::ofstream(g_root + "/sasl/tessera.conf")
        << "mech_list: PLAIN DIGEST-MD5\nsasldb_path: " << g_root << "/sasl/sasldb2\n";
    SaslAuth::init(SaslConfig{"tessera", g_root + "/sasl"});
    sasl_conn_t* conn = nullptr;
    ASSERT_EQ(sasl_server_new("spice", nullptr, nullptr, nullptr, nullptr, nullptr, 0, &conn), SASL_OK);
    ASSERT_EQ(sasl_setpass(conn, kUser, kPassword, unsigned(std::strlen(kPassword)), nullptr, 0, SASL_SET_CREATE),
              SASL_OK)
        << sasl_errdetail(conn);
    ASSERT_EQ(sasl_setpass(conn, kOtherUser, kOtherPassword, unsigned(std::strlen(kOtherPassword)), nullptr, 0,
                           SASL_SET_CREATE),
              SASL_OK)
        << sasl_errdetail(conn);
    sasl_dispose(&conn);
  }
  static void TearDownTestSuite() { fs::remove_all(g_root); }

  void TearDown() override {
    if (server) server->stop();
    hub.close();
  }

  // A server showing one still frame; plain port unless cfg says otherwise.
  void start(SpiceServerConfig cfg, TicketPolicy policy = TicketPolicy::disabled()) {
    DemoSource d({200, 120}, 30);
    frame = std::make_shared<Frame>(d.render(3));
    hub.publish(frame, Region(frame->bounds()));
    server = std::make_unique<SpiceServer>(cfg, hub, std::move(policy), [](const InputEvent&) {});
    server->start();
  }

  static SpiceServerConfig tls_only(const std::string& dir = g_root + "/pki", bool verify_client = false) {
    SpiceServerConfig cfg;
    cfg.port = std::nullopt;
    cfg.tls_port = 0;
    cfg.tls = TlsContext::load({dir, verify_client});
    return cfg;
  }

  static TlsClientOptions client_tls(const std::string& cert = "") {
    TlsClientOptions o;
    o.ca_file = g_root + "/pki/ca-cert.pem";
    if (!cert.empty()) {
      o.cert_file = g_root + "/pki/" + cert + "-cert.pem";
      o.key_file = g_root + "/pki/" + cert + "-key.pem";
    }
    return o;
  }

  // Connects a display client and waits for the exact picture.
  ::testing::AssertionResult shows_frame(uint16_t port, DisplayClient::Options opts) {
    DisplayClient c(port, std::move(opts));
    if (!c.ok()) return ::testing::AssertionFailure() << "link failed: " << c.error;
    c.start();
    bool exact = c.wait_until([&](const DisplayClient& x) {
      return x.surface.size() == frame->size() && x.surface.same_pixels(*frame, frame->bounds());
    });
    c.stop();
    if (!exact) return ::testing::AssertionFailure() << "picture not exact: " << c.error;
    return ::testing::AssertionSuccess();
  }

  LogCapture logs;
  FrameHub hub;
  std::shared_ptr<Frame> frame;
  std::unique_ptr<SpiceServer> server;
};

// ---- TLS ---------------------------------------------------------------------------------

TEST_F(SpiceSecurityTest, PicturesAreExactOverTls) {
  start(tls_only());
  EXPECT_EQ(server->port(), 0);
  ASSERT_NE(server->tls_port(), 0);
  EXPECT_TRUE(shows_frame(server->tls_port(), opts(client_tls())));
  EXPECT_TRUE(logs.wait_for("linked over TLS (TLSv1.3"));
}

TEST_F(SpiceSecurityTest, ClientCertificateRequired) {
  start(tls_only(g_root + "/crl", true));
  EXPECT_TRUE(shows_frame(server->tls_port(), opts(client_tls("client"))));
  EXPECT_TRUE(logs.wait_for("client certificate CN=tessera-test-client"));

  EXPECT_FALSE(shows_frame(server->tls_port(), opts(client_tls())));
  EXPECT_TRUE(logs.wait_for("the client sent no certificate"));
  EXPECT_FALSE(shows_frame(server->tls_port(), opts(client_tls("revoked-client"))));
  EXPECT_TRUE(logs.wait_for("client certificate refused: certificate revoked"));
  EXPECT_FALSE(shows_frame(server->tls_port(), opts(client_tls("other-client"))));
  EXPECT_TRUE(logs.wait_for("client certificate refused: unable to get local issuer certificate"));
}

TEST_F(SpiceSecurityTest, PlainPortRedirectsSecureChannels) {
  SpiceServerConfig cfg = tls_only();
  cfg.port = 0;
  cfg.secure_channels = {SPICE_CHANNEL_DISPLAY};
  start(cfg);
  auto tls = client_tls();
  Caps main_caps;
  auto main = ChannelClient::open(server->port(), 0, SPICE_CHANNEL_MAIN, "", main_caps);
  ASSERT_TRUE(main);
  uint32_t session = 0;
  while (auto m = main->read())
    if (m->type == SPICE_MSG_MAIN_INIT) {
      session = WireReader(m->body, "init").u32();
      break;
    }
  ASSERT_NE(session, 0u);
  LinkOutcome plain;
  EXPECT_FALSE(ChannelClient::open(server->port(), session, SPICE_CHANNEL_DISPLAY, "", {}, &plain));
  EXPECT_EQ(plain.reply_error, uint32_t(SPICE_LINK_ERR_NEED_SECURED));
  EXPECT_TRUE(logs.wait_for("link refused (NEED_SECURED): the display channel must use TLS"));
  LinkOutcome secure;
  EXPECT_TRUE(ChannelClient::open(server->tls_port(), session, SPICE_CHANNEL_DISPLAY, "", {}, &secure, &tls));
  EXPECT_EQ(secure.auth_result, uint32_t(SPICE_LINK_ERR_OK));
}

TEST_F(SpiceSecurityTest, PlainClientOnTheTlsPortAndStalledHandshakes) {
  SpiceServerConfig cfg = tls_only();
  cfg.link_timeout = 400ms;
  start(cfg);
  {
    RawConn c(server->tls_port());
    c.send(build_link_request(0, SPICE_CHANNEL_MAIN, 0, {}, {}));
    EXPECT_TRUE(c.wait_closed());
    EXPECT_TRUE(logs.wait_for("not speaking TLS"));
  }
  {
    RawConn c(server->tls_port());  // says nothing at all
    EXPECT_TRUE(c.wait_closed(3000));
    EXPECT_TRUE(logs.wait_for("TLS handshake timed out"));
  }
  EXPECT_TRUE(shows_frame(server->tls_port(), opts(client_tls())));
}

// ---- SASL --------------------------------------------------------------------------------

TEST_F(SpiceSecurityTest, SaslPlainOverTlsAndNeverInClear) {
  SpiceServerConfig cfg = tls_only();
  cfg.port = 0;
  cfg.sasl = true;
  start(cfg);
  spdlog::set_level(spdlog::level::trace);
  EXPECT_TRUE(shows_frame(server->tls_port(), opts(client_tls(), kUser, kPassword)));
  EXPECT_TRUE(logs.wait_for("SASL PLAIN as alice, no security layer (TLS)"));
  EXPECT_TRUE(logs.contains("SASL mechanisms offered: PLAIN") || logs.contains("SASL mechanisms offered: DIGEST-MD5,PLAIN"))
      << logs.all();

  // On the plain port PLAIN is not offered: only a mechanism with a security layer is.
  LinkOutcome out;
  EXPECT_FALSE(ChannelClient::open(server->port(), 0, SPICE_CHANNEL_MAIN, kPassword, {}, &out, nullptr, kUser));
  EXPECT_EQ(out.sasl_mechanisms, ",DIGEST-MD5,");
  spdlog::set_level(spdlog::level::info);
  EXPECT_EQ(logs.all().find(kPassword), std::string::npos) << "the password reached the log";
}

TEST_F(SpiceSecurityTest, WrongSaslPasswordsAreRefusedThenTheAddressWaits) {
  SpiceServerConfig cfg = tls_only();
  cfg.sasl = true;
  cfg.limits.free_failures = 2;
  start(cfg);
  auto tls = client_tls();
  for (int i = 0; i < 3; ++i) {
    LinkOutcome out;
    EXPECT_FALSE(ChannelClient::open(server->tls_port(), 0, SPICE_CHANNEL_MAIN, "wrong", {}, &out, &tls, kUser));
  }
  EXPECT_TRUE(logs.wait_for("authentication failed: SASL PLAIN start failed"));
  // The third failure starts a 1 s wait: even the right password is turned away meanwhile.
  LinkOutcome out;
  EXPECT_FALSE(ChannelClient::open(server->tls_port(), 0, SPICE_CHANNEL_MAIN, kPassword, {}, &out, &tls, kUser));
  EXPECT_TRUE(logs.wait_for("3 failed authentications from 127.0.0.1: refused for another"));
  std::this_thread::sleep_for(1100ms);
  EXPECT_TRUE(shows_frame(server->tls_port(), opts(client_tls(), kUser, kPassword)));
}

// A client that ignores the offer: PLAIN on the plain port, or a ticket to a SASL server.
TEST_F(SpiceSecurityTest, SaslServerRefusesMechanismsItDidNotOffer) {
  SpiceServerConfig cfg;
  cfg.port = 0;
  cfg.sasl = true;
  start(cfg);
  auto link = [&](RawConn& c) {
    Caps common;
    set_cap(common, SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION);
    c.send(build_link_request(0, SPICE_CHANNEL_MAIN, 0, common, {}));
    uint8_t header[16];
    ASSERT_TRUE(c.recv(header, sizeof header));
    std::vector<uint8_t> reply(WireReader(std::span<const uint8_t>(header + 12, 4), "size").u32());
    ASSERT_TRUE(c.recv(reply.data(), reply.size()));
    EXPECT_EQ(WireReader(reply, "reply").u32(), 0u);
    // No RSA key with SASL: the key field is all zero.
    EXPECT_TRUE(std::all_of(reply.begin() + 4, reply.begin() + 4 + 162, [](uint8_t b) { return b == 0; }));
  };
  {
    RawConn c(server->port());
    link(c);
    c.send(WireWriter().u32(SPICE_COMMON_CAP_AUTH_SASL).take());
    uint8_t len[4];
    ASSERT_TRUE(c.recv(len, 4));
    std::string list(WireReader(len, "len").u32(), '\0');
    ASSERT_TRUE(c.recv(list.data(), list.size()));
    EXPECT_EQ(list, ",DIGEST-MD5,");
    std::string resp = std::string(1, '\0') + kUser + std::string(1, '\0') + kPassword;
    WireWriter w;
    w.u32(5).bytes(std::span(reinterpret_cast<const uint8_t*>("PLAIN"), 5));
    w.u32(uint32_t(resp.size() + 1)).bytes(std::span(reinterpret_cast<const uint8_t*>(resp.data()), resp.size())).u8(0);
    c.send(w.buffer());
    EXPECT_TRUE(c.wait_closed());
    EXPECT_TRUE(logs.wait_for("SASL mechanism 'PLAIN' is not offered here (offered: DIGEST-MD5)"));
  }
  {
    RawConn c(server->port());
    link(c);
    c.send(WireWriter().u32(SPICE_COMMON_CAP_AUTH_SPICE).take());
    c.send(std::vector<uint8_t>(128, 0));
    EXPECT_TRUE(c.wait_closed());
    EXPECT_TRUE(logs.wait_for("asked for auth mechanism 1, only SASL (2) is offered"));
  }
  EXPECT_EQ(logs.all().find(kPassword), std::string::npos) << "the password reached the log";
}

TEST_F(SpiceSecurityTest, TicketsAndSaslAreExclusive) {
  SpiceServerConfig cfg;
  cfg.sasl = true;
  EXPECT_THROW(SpiceServer(cfg, hub, TicketPolicy::with_password("pw", std::nullopt), [](const InputEvent&) {}),
               std::invalid_argument);
}

// A client that holds one account must not wipe the count its guesses at another built up.
TEST_F(SpiceSecurityTest, ASuccessTakesBackOnlyThatAccountsFailures) {
  SpiceServerConfig cfg = tls_only();
  cfg.limits.free_failures = 3;
  cfg.guard = std::make_shared<AuthGuard>(cfg.limits);
  cfg.sasl = true;
  start(cfg);
  auto tls = client_tls();
  auto guess = [&](const char* user, const char* password) {
    LinkOutcome out;
    return ChannelClient::open(server->tls_port(), 0, SPICE_CHANNEL_MAIN, password, {}, &out, &tls, user) != nullptr;
  };
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(guess(kOtherUser, "guess"));
  EXPECT_TRUE(guess(kUser, kPassword));  // the account the guesser holds
  EXPECT_EQ(cfg.guard->failures("127.0.0.1"), 3u) << "a success as alice wiped the guesses at bob";
  EXPECT_FALSE(guess(kOtherUser, "guess"));
  EXPECT_GT(cfg.guard->backoff_left("127.0.0.1", AuthGuard::Clock::now()), AuthGuard::Clock::duration::zero());
  // alice's own typing mistakes are hers to take back.
  EXPECT_EQ(cfg.guard->failures("127.0.0.1"), 4u);
  std::this_thread::sleep_for(1100ms);
  EXPECT_FALSE(guess(kUser, "typo"));
  EXPECT_EQ(cfg.guard->failures("127.0.0.1"), 5u);
  std::this_thread::sleep_for(2100ms);
  EXPECT_TRUE(guess(kUser, kPassword));
  EXPECT_EQ(cfg.guard->failures("127.0.0.1"), 4u);
}

// Another account that learns a session id cannot add its channels to that session.
TEST_F(SpiceSecurityTest, ChannelsJoinOnlyASessionOfTheirOwnAccount) {
  SpiceServerConfig cfg = tls_only();
  cfg.sasl = true;
  start(cfg);
  auto tls = client_tls();
  auto main = ChannelClient::open(server->tls_port(), 0, SPICE_CHANNEL_MAIN, kPassword, {}, nullptr, &tls, kUser);
  ASSERT_TRUE(main);
  uint32_t session = 0;
  while (auto m = main->read())
    if (m->type == SPICE_MSG_MAIN_INIT) {
      session = WireReader(m->body, "init").u32();
      break;
    }
  ASSERT_NE(session, 0u);
  LinkOutcome other;
  EXPECT_FALSE(ChannelClient::open(server->tls_port(), session, SPICE_CHANNEL_INPUTS, kOtherPassword, {}, &other,
                                   &tls, kOtherUser));
  EXPECT_EQ(other.auth_result, uint32_t(SPICE_LINK_ERR_BAD_CONNECTION_ID));
  EXPECT_TRUE(logs.wait_for("inputs channel authenticated as SASL user bob names session"));
  LinkOutcome own;
  EXPECT_TRUE(ChannelClient::open(server->tls_port(), session, SPICE_CHANNEL_INPUTS, kPassword, {}, &own, &tls, kUser));
  EXPECT_EQ(own.auth_result, uint32_t(SPICE_LINK_ERR_OK));
}

// ---- tickets -------------------------------------------------------------------------------

// What a relay on the plain port records (link message, mechanism, encrypted ticket) opens no
// other connection: every link gets a key of its own, as spice-server does.
TEST_F(SpiceSecurityTest, ARecordedTicketDoesNotLogInAgain) {
  SpiceServerConfig cfg;
  cfg.port = 0;
  start(cfg, TicketPolicy::with_password(kPassword, std::nullopt));
  LinkOutcome first, second;
  auto a = ChannelClient::open(server->port(), 0, SPICE_CHANNEL_MAIN, kPassword, {}, &first);
  auto b = ChannelClient::open(server->port(), 0, SPICE_CHANNEL_MAIN, kPassword, {}, &second);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(first.public_key.size(), 162u);
  EXPECT_NE(first.public_key, second.public_key) << "two links got the same RSA key";

  RawConn replay(server->port());
  replay.send(first.sent);
  uint8_t header[16];
  ASSERT_TRUE(replay.recv(header, sizeof header));
  std::vector<uint8_t> reply(WireReader(std::span<const uint8_t>(header + 12, 4), "size").u32());
  ASSERT_TRUE(replay.recv(reply.data(), reply.size()));
  EXPECT_EQ(WireReader(reply, "reply").u32(), uint32_t(SPICE_LINK_ERR_OK));
  uint8_t result[4];
  ASSERT_TRUE(replay.recv(result, 4));
  EXPECT_EQ(WireReader(result, "result").u32(), uint32_t(SPICE_LINK_ERR_PERMISSION_DENIED))
      << "the replayed ticket logged in";
  EXPECT_TRUE(replay.wait_closed());
  EXPECT_TRUE(logs.wait_for("ticket does not decrypt"));
}

// A client that takes the key made for its link and hangs up is counted: keys cost CPU.
TEST_F(SpiceSecurityTest, HangingUpOnAFreshKeyCounts) {
  SpiceServerConfig cfg;
  cfg.port = 0;
  cfg.guard = std::make_shared<AuthGuard>(cfg.limits);
  start(cfg, TicketPolicy::with_password(kPassword, std::nullopt));
  {
    RawConn c(server->port());
    Caps common;
    set_cap(common, SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION);
    c.send(build_link_request(0, SPICE_CHANNEL_MAIN, 0, common, {}));
    uint8_t header[16];
    ASSERT_TRUE(c.recv(header, sizeof header));
    std::vector<uint8_t> reply(WireReader(std::span<const uint8_t>(header + 12, 4), "size").u32());
    ASSERT_TRUE(c.recv(reply.data(), reply.size()));
  }
  EXPECT_TRUE(logs.wait_for("client closed the connection"));
  auto deadline = std::chrono::steady_clock::now() + 2s;
  while (cfg.guard->failures("127.0.0.1") == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(cfg.guard->failures("127.0.0.1"), 1u);
}

// With client certificates, the certificate is part of whose session it is.
TEST_F(SpiceSecurityTest, ChannelsJoinOnlyASessionOfTheirOwnCertificate) {
  start(tls_only(g_root + "/pki", true), TicketPolicy::with_password(kPassword, std::nullopt));
  auto mine = client_tls("client"), other = client_tls("revoked-client");  // no CRL here: both valid
  auto main = ChannelClient::open(server->tls_port(), 0, SPICE_CHANNEL_MAIN, kPassword, {}, nullptr, &mine);
  ASSERT_TRUE(main);
  uint32_t session = 0;
  while (auto m = main->read())
    if (m->type == SPICE_MSG_MAIN_INIT) {
      session = WireReader(m->body, "init").u32();
      break;
    }
  ASSERT_NE(session, 0u);
  LinkOutcome theirs;
  EXPECT_FALSE(ChannelClient::open(server->tls_port(), session, SPICE_CHANNEL_INPUTS, kPassword, {}, &theirs, &other));
  EXPECT_EQ(theirs.auth_result, uint32_t(SPICE_LINK_ERR_BAD_CONNECTION_ID));
  LinkOutcome own;
  EXPECT_TRUE(ChannelClient::open(server->tls_port(), session, SPICE_CHANNEL_INPUTS, kPassword, {}, &own, &mine));
}

// ---- client certificates on every way in ----------------------------------------------------

TEST_F(SpiceSecurityTest, RequiredClientCertificatesLeaveNoPortWithoutThem) {
  auto make = [&](SpiceServerConfig cfg) {
    cfg.require_client_certificate = true;
    SpiceServer s(cfg, hub, TicketPolicy::with_password(kPassword, std::nullopt), [](const InputEvent&) {});
  };
  auto expect_refused = [&](SpiceServerConfig cfg, const std::string& needle) {
    try {
      make(std::move(cfg));
      ADD_FAILURE() << "started with a way in that takes no certificate";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  SpiceServerConfig plain_only;  // the plain port alone: tickets without any certificate
  expect_refused(plain_only, "SPICE has no TLS port that checks them");
  SpiceServerConfig both = tls_only(g_root + "/pki", true);
  both.port = 0;
  expect_refused(both, "the plain SPICE port takes the main channel without one");
  both.secure_channels = {SPICE_CHANNEL_MAIN, SPICE_CHANNEL_DISPLAY, SPICE_CHANNEL_INPUTS};
  expect_refused(both, "takes the cursor channel without one");
  both.secure_channels.insert(SPICE_CHANNEL_CURSOR);
  EXPECT_NO_THROW(make(both));
  EXPECT_NO_THROW(make(tls_only(g_root + "/pki", true)));
  expect_refused(tls_only(g_root + "/pki", false), "no TLS port that checks them");
}

// ---- link-stage limits -------------------------------------------------------------------

TEST_F(SpiceSecurityTest, UnauthenticatedConnectionsAreCapped) {
  SpiceServerConfig cfg;
  cfg.port = 0;
  cfg.limits.max_unauthenticated = 2;
  start(cfg);
  auto a = std::make_unique<RawConn>(server->port());
  auto b = std::make_unique<RawConn>(server->port());
  std::this_thread::sleep_for(100ms);  // both accepted and waiting in the link stage
  RawConn c(server->port());
  EXPECT_TRUE(c.wait_closed(2000));
  EXPECT_TRUE(logs.wait_for("2 connections are already authenticating (limit)"));
  a.reset();
  b.reset();
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(shows_frame(server->port(), DisplayClient::Options{}));
}

// Stalled connections (a slow loris, or idle ones through the same tunnel) fill the per-address
// limit; a real client still gets in: the connection silent longest is closed for it, and logged.
TEST_F(SpiceSecurityTest, StalledConnectionsMakeRoomForARealClient) {
  SpiceServerConfig cfg;
  cfg.port = 0;
  cfg.limits.max_unauthenticated_per_address = 3;
  cfg.limits.evict_silent_after = 300ms;
  cfg.guard = std::make_shared<AuthGuard>(cfg.limits);
  start(cfg);
  std::vector<std::unique_ptr<RawConn>> stalled;
  for (int i = 0; i < 3; ++i) stalled.push_back(std::make_unique<RawConn>(server->port()));
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(shows_frame(server->port(), DisplayClient::Options{}));
  EXPECT_TRUE(logs.wait_for("that sent nothing for"));
  EXPECT_GE(cfg.guard->evictions(), 1u);
  EXPECT_TRUE(stalled[0]->wait_closed(2000)) << "the oldest stalled connection goes first";
}

// Holding a link-stage slot until just before the deadline, then hanging up, is not free.
TEST_F(SpiceSecurityTest, StallingUntilNearTheDeadlineCountsHoweverItEnds) {
  SpiceServerConfig cfg = tls_only();
  cfg.port = 0;
  cfg.link_timeout = 400ms;
  cfg.guard = std::make_shared<AuthGuard>(cfg.limits);
  start(cfg);
  {
    RawConn quick(server->port());  // a health check: gone at once, not counted
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(cfg.guard->failures("127.0.0.1"), 0u);
  for (uint16_t port : {server->port(), server->tls_port()}) {
    {
      RawConn staller(port);  // on the TLS port: a handshake never started (plain TCP)
      std::this_thread::sleep_for(300ms);
    }
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(logs.wait_for("counted as a failed authentication"));
  EXPECT_EQ(cfg.guard->failures("127.0.0.1"), 2u) << logs.all();
}

// ---- SASL framing with hostile lengths ---------------------------------------------------

class SaslFraming : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    server = std::make_unique<Socket>(fds[0]);
    client = fds[1];
  }
  void TearDown() override { ::close(client); }
  void send(const std::vector<uint8_t>& b) { ASSERT_EQ(::write(client, b.data(), b.size()), ssize_t(b.size())); }
  Deadline soon() const { return std::chrono::steady_clock::now() + 500ms; }
  template <class F>
  void expect_error(F f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error";
    } catch (const ProtocolError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
  std::unique_ptr<Socket> server;
  int client = -1;
};

TEST_F(SaslFraming, MechanismNames) {
  send(WireWriter().u32(0).take());
  expect_error([&] { read_sasl_mechname(*server, soon()); }, "SASL mechanism name of 0 bytes");
  send(WireWriter().u32(101).take());
  expect_error([&] { read_sasl_mechname(*server, soon()); }, "of 101 bytes (must be 1..100)");
  send(WireWriter().u32(0xFFFFFFFF).take());
  expect_error([&] { read_sasl_mechname(*server, soon()); }, "of 4294967295 bytes");
  send(WireWriter().u32(5).bytes(std::span(reinterpret_cast<const uint8_t*>("plain"), 5)).take());
  expect_error([&] { read_sasl_mechname(*server, soon()); }, "character outside");
  send(WireWriter().u32(10).bytes(std::span(reinterpret_cast<const uint8_t*>("GSS"), 3)).take());
  expect_error([&] { read_sasl_mechname(*server, soon()); }, "timed out waiting for SASL mechanism name");
}

TEST_F(SaslFraming, DataLengths) {
  send(WireWriter().u32(0).take());
  EXPECT_FALSE(read_sasl_data(*server, soon(), "SASL step data").has_value());  // "no data", not ""
  send(WireWriter().u32(1).u8(0).take());
  EXPECT_EQ(read_sasl_data(*server, soon(), "SASL step data"), std::optional<std::string>(""));
  send(WireWriter().u32(0x7FFFFFFF).take());
  expect_error([&] { read_sasl_data(*server, soon(), "SASL step data"); }, "of 2147483647 bytes (limit 65536)");
  send(WireWriter().u32(3).u8('a').u8('b').u8('c').take());  // binary token: the last byte is not a NUL
  EXPECT_EQ(read_sasl_data(*server, soon(), "SASL step data"), std::optional<std::string>("ab"));
  send(WireWriter().u32(100).u8('a').take());
  ::shutdown(client, SHUT_WR);
  expect_error([&] { read_sasl_data(*server, soon(), "SASL step data"); }, "in the middle of SASL step data");
}

TEST(SaslDataEncoding, CountsTheNul) {
  EXPECT_EQ(encode_sasl_data(std::nullopt), (std::vector<uint8_t>{0, 0, 0, 0}));
  EXPECT_EQ(encode_sasl_data(std::string("ab")), (std::vector<uint8_t>{3, 0, 0, 0, 'a', 'b', 0}));
}

// ---- the guard's arithmetic --------------------------------------------------------------

TEST(AuthGuardTest, FreeFailuresThenDoublingWaitsUpToTheCap) {
  AuthLimits l;
  l.free_failures = 3;
  l.max_backoff = std::chrono::seconds(8);
  AuthGuard g(l);
  auto t = AuthGuard::Clock::now();
  for (int i = 0; i < 3; ++i) g.failed("10.0.0.1", t);
  EXPECT_EQ(g.backoff_left("10.0.0.1", t), AuthGuard::Clock::duration::zero());
  g.failed("10.0.0.1", t);
  EXPECT_EQ(g.backoff_left("10.0.0.1", t), std::chrono::seconds(1));
  std::string why;
  EXPECT_FALSE(g.admit("10.0.0.1", t, &why));
  EXPECT_NE(why.find("4 failed authentications from 10.0.0.1"), std::string::npos) << why;
  EXPECT_TRUE(g.admit("10.0.0.2", t, &why));  // other addresses are not affected
  g.failed("10.0.0.1", t);
  EXPECT_EQ(g.backoff_left("10.0.0.1", t), std::chrono::seconds(2));
  for (int i = 0; i < 10; ++i) g.failed("10.0.0.1", t);
  EXPECT_EQ(g.backoff_left("10.0.0.1", t), std::chrono::seconds(8));
  EXPECT_TRUE(g.admit("10.0.0.1", t + std::chrono::seconds(9), &why));
  g.succeeded("10.0.0.1", AuthGuard::kSharedSecret);  // nobody's failures stay
  EXPECT_EQ(g.failures("10.0.0.1"), 15u);
}

TEST(AuthGuardTest, ASuccessTakesBackOnlyItsOwnFailures) {
  AuthLimits l;
  l.free_failures = 3;
  AuthGuard g(l);
  auto t = AuthGuard::Clock::now();
  for (int i = 0; i < 4; ++i) g.failed("h", t, AuthGuard::user("bob"));
  EXPECT_GT(g.backoff_left("h", t), AuthGuard::Clock::duration::zero());
  g.succeeded("h", AuthGuard::user("alice"));
  EXPECT_EQ(g.failures("h"), 4u);
  EXPECT_GT(g.backoff_left("h", t), AuthGuard::Clock::duration::zero()) << "alice lifted the wait bob earned";
  g.failed("h", t, AuthGuard::user("alice"));
  g.failed("h", t, std::nullopt);  // a stall: nobody's
  g.succeeded("h", AuthGuard::user("alice"));
  EXPECT_EQ(g.failures("h"), 5u);
  g.succeeded("h", AuthGuard::user("bob"));
  EXPECT_EQ(g.failures("h"), 1u);
  EXPECT_EQ(g.backoff_left("h", t), AuthGuard::Clock::duration::zero());
  // The shared password (tickets, VNC authentication) is an identity of its own.
  for (int i = 0; i < 5; ++i) g.failed("h", t, AuthGuard::kSharedSecret);
  g.succeeded("h", AuthGuard::user(""));
  EXPECT_EQ(g.failures("h"), 6u);
  g.succeeded("h", AuthGuard::kSharedSecret);
  EXPECT_EQ(g.failures("h"), 1u);
}

TEST(AuthGuardTest, UserNamesPerAddressAreBounded) {
  AuthGuard g;
  auto t = AuthGuard::Clock::now();
  for (size_t i = 0; i < AuthGuard::kMaxUsersPerAddress + 10; ++i) g.failed("h", t, AuthGuard::user(std::to_string(i)));
  // Names past the bound count as nobody's: no success takes them back.
  for (size_t i = 0; i < AuthGuard::kMaxUsersPerAddress + 10; ++i) g.succeeded("h", AuthGuard::user(std::to_string(i)));
  EXPECT_EQ(g.failures("h"), 10u);
}

TEST(AuthGuardTest, LinkLocalScopeDoesNotEscapeTheCount) {
  EXPECT_EQ(AuthGuard::key_for("fe80::1%eth0"), "fe80::/64%eth0");
  EXPECT_EQ(AuthGuard::key_for("fe80::aaaa:bbbb:1%eth0"), "fe80::/64%eth0");
  EXPECT_EQ(AuthGuard::key_for("fe80::1%2"), "fe80::/64%2");
  AuthLimits l;
  l.free_failures = 0;
  AuthGuard g(l);
  auto t = AuthGuard::Clock::now();
  g.failed("fe80::1%eth0", t);
  std::string why;
  EXPECT_FALSE(g.admit("fe80::2%eth0", t, &why)) << "a new link-local address walked around the wait";
  EXPECT_TRUE(g.admit("fe80::2%eth1", t, &why));  // another link, another neighbourhood
}

TEST(AuthGuardTest, Ipv6CountsBySlash64) {
  EXPECT_EQ(AuthGuard::key_for("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(AuthGuard::key_for("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(AuthGuard::key_for("::ffff:192.0.2.7"), "::ffff:192.0.2.7");
  AuthLimits l;
  l.free_failures = 0;
  AuthGuard g(l);
  auto t = AuthGuard::Clock::now();
  g.failed("2001:db8:1:2::1", t);
  std::string why;
  EXPECT_FALSE(g.admit("2001:db8:1:2:ffff::9", t, &why));  // same /64: same count
  EXPECT_TRUE(g.admit("2001:db8:1:3::1", t, &why));
}

TEST(AuthGuardTest, OldFailuresAreForgotten) {
  AuthLimits l;
  l.free_failures = 1;
  l.forget_after = std::chrono::seconds(60);
  AuthGuard g(l);
  auto t = AuthGuard::Clock::now();
  g.failed("h", t);
  g.failed("h", t + std::chrono::seconds(120));  // a fresh first failure, not the second
  EXPECT_EQ(g.backoff_left("h", t + std::chrono::seconds(120)), AuthGuard::Clock::duration::zero());
}

TEST(AuthGuardTest, SlotsCountInAllAndPerAddress) {
  AuthLimits l;
  l.max_unauthenticated = 3;
  l.max_unauthenticated_per_address = 2;
  AuthGuard g(l);
  auto t = AuthGuard::Clock::now();
  std::string why;
  auto a1 = g.admit("a", t, &why), a2 = g.admit("a", t, &why);
  ASSERT_TRUE(a1 && a2);
  EXPECT_FALSE(g.admit("a", t, &why));
  EXPECT_NE(why.find("limit per address"), std::string::npos);
  auto b1 = g.admit("b", t, &why);
  ASSERT_TRUE(b1);
  EXPECT_FALSE(g.admit("c", t, &why));
  EXPECT_NE(why.find("3 connections are already authenticating"), std::string::npos);
  a1.reset();
  EXPECT_EQ(g.unauthenticated(), 2u);
  EXPECT_TRUE(g.admit("c", t, &why));
}

// With a limit reached, the watched connection silent longest (past the threshold) is closed to
// make room, once; one that spoke recently is not, and an evicted slot is not counted twice.
TEST(AuthGuardTest, TheConnectionSilentLongestMakesRoom) {
  AuthLimits l;
  l.max_unauthenticated = 4;
  l.max_unauthenticated_per_address = 2;
  l.evict_silent_after = std::chrono::milliseconds(1000);
  AuthGuard g(l);
  auto t = AuthGuard::Clock::now();
  std::string why, evicted;
  std::map<std::string, int> closed;
  auto watched = [&](const std::string& addr, const std::string& name, int silent_ms) {
    auto s = g.admit(addr, t, &why, &evicted);
    EXPECT_TRUE(s) << why;
    if (s) s->watch([silent_ms] { return std::chrono::milliseconds(silent_ms); }, [&closed, name] { ++closed[name]; });
    return s;
  };
  auto a1 = watched("a", "a1", 5000), a2 = watched("a", "a2", 9000);
  auto a3 = watched("a", "a3", 10);  // per-address limit: a2, silent longest, goes
  ASSERT_TRUE(a3);
  EXPECT_EQ(closed, (std::map<std::string, int>{{"a2", 1}}));
  EXPECT_NE(evicted.find("sent nothing for 9000 ms"), std::string::npos) << evicted;
  evicted.clear();
  a2.reset();  // its thread ends later: no second release
  EXPECT_EQ(g.unauthenticated(), 2u);
  // a1 (5 s) goes next; then only a3 is left, silent too briefly: refused.
  auto a4 = g.admit("a", t, &why, &evicted);  // unwatched
  EXPECT_TRUE(a4);
  EXPECT_EQ(closed["a1"], 1);
  EXPECT_FALSE(g.admit("a", t, &why, &evicted));
  EXPECT_NE(why.find("limit per address"), std::string::npos);
  // The overall limit evicts across addresses.
  auto b1 = watched("b", "b1", 3000);
  auto c1 = watched("c", "c1", 1);
  ASSERT_EQ(g.unauthenticated(), 4u);
  auto d1 = watched("d", "d1", 1);
  ASSERT_TRUE(d1);
  EXPECT_EQ(closed["b1"], 1);
  EXPECT_EQ(g.evictions(), 3u);
}

TEST(AuthGuardTest, NetworksParseAndMatch) {
  auto n = Network::parse("10.1.0.0/16");
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->contains("10.1.200.3"));
  EXPECT_TRUE(n->contains("::ffff:10.1.0.9"));  // IPv4-mapped
  EXPECT_FALSE(n->contains("10.2.0.1"));
  EXPECT_FALSE(n->contains("::1"));
  auto odd = Network::parse("192.168.5.128/25");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->contains("192.168.5.200"));
  EXPECT_FALSE(odd->contains("192.168.5.100"));
  auto one = Network::parse("127.0.0.1");
  ASSERT_TRUE(one);
  EXPECT_TRUE(one->contains("127.0.0.1"));
  EXPECT_FALSE(one->contains("127.0.0.2"));
  auto v6 = Network::parse("fe80::/10");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains("fe80::1%eth0"));
  EXPECT_FALSE(v6->contains("2001:db8::1"));
  EXPECT_TRUE(Network::parse("::/0")->contains("2001:db8::1"));
  for (const char* bad : {"", "300.1.1.1", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "host", "1.2.3.4/8x"})
    EXPECT_FALSE(Network::parse(bad)) << bad;
}

// Penalties can be turned off, and exempt networks (a tunnel every viewer comes through) never
// wait; others still do.
TEST(AuthGuardTest, PenaltiesOffOrExemptNeverWait) {
  auto t = AuthGuard::Clock::now();
  AuthLimits off;
  off.free_failures = 1;
  off.penalties = false;
  AuthGuard g_off(off);
  for (int i = 0; i < 10; ++i) g_off.failed("198.51.100.7", t);
  EXPECT_EQ(g_off.failures("198.51.100.7"), 10u);
  EXPECT_EQ(g_off.backoff_left("198.51.100.7", t), AuthGuard::Clock::duration::zero());
  std::string why;
  EXPECT_TRUE(g_off.admit("198.51.100.7", t, &why)) << why;

  AuthLimits ex;
  ex.free_failures = 1;
  ex.exempt = {*Network::parse("127.0.0.0/8")};
  AuthGuard g_ex(ex);
  for (int i = 0; i < 10; ++i) g_ex.failed("127.0.0.1", t), g_ex.failed("198.51.100.7", t);
  EXPECT_TRUE(g_ex.admit("127.0.0.1", t, &why)) << why;
  EXPECT_FALSE(g_ex.admit("198.51.100.7", t, &why));
  EXPECT_NE(why.find("failed authentications"), std::string::npos);
}

TEST(AuthGuardTest, PenaltySpecs) {
  AuthLimits l;
  EXPECT_TRUE(apply_auth_penalty("5,600", l));
  EXPECT_EQ(l.free_failures, 5u);
  EXPECT_EQ(l.max_backoff, std::chrono::seconds(600));
  EXPECT_TRUE(l.penalties);
  EXPECT_TRUE(apply_auth_penalty("off", l));
  EXPECT_FALSE(l.penalties);
  for (const char* bad : {"", "5", "5,", "5,0", "5,3601", "-1,60", "5,60x", "x,60", "1001,60"}) {
    AuthLimits before;
    EXPECT_FALSE(apply_auth_penalty(bad, before)) << bad;
    EXPECT_EQ(before.free_failures, AuthLimits{}.free_failures) << bad;
  }
}

}  // namespace
