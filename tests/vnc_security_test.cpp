// The VNC handshake's security rules against a raw RFB client: the version parsed by hand, the
// methods --tls-verify-client and --disable-ticketing allow, refused credentials counted before
// the client hears of it, a stall near the deadline counted, one failure count shared with
// SPICE, and unauthenticated text (SASL mechanism names, Plain user names) kept out of the log.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sasl/sasl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "auth/sasl_auth.h"
#include "auth/vnc_des.h"
#include "capture/demo_source.h"
#include "tests/log_capture.h"
#include "tests/rfb_test_client.h"
#include "tests/spice_test_client.h"
#include "tests/test_pki.h"
#include "transport/spice/spice_server.h"
#include "transport/vnc/rfb_wire.h"
#include "transport/vnc/vnc_server.h"

using namespace tessera;
using namespace tessera::vnc;
using namespace tessera::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string g_root;
constexpr const char* kPassword = "s3cret!x";

class VncSecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_root = (fs::temp_directory_path() / ("tessera-vnc-security-test-" + std::to_string(::getpid()))).string();
    fs::remove_all(g_root);
    write_test_pki(g_root + "/pki");
    fs::create_directories(g_root + "/sasl");
    std::ofstream(g_root + "/sasl/tessera.conf")
        << "mech_list: PLAIN DIGEST-MD5\nsasldb_path: " << g_root << "/sasl/sasldb2\n";
    SaslAuth::init(SaslConfig{"tessera", g_root + "/sasl"});
  }
  static void TearDownTestSuite() { fs::remove_all(g_root); }

  void TearDown() override {
    if (server) server->stop();
    if (spice) spice->stop();
    hub.close();
  }

  void start(SecurityConfig sec, std::chrono::milliseconds link_timeout = 2000ms) {
    DemoSource d({96, 64}, 30);
    hub.publish(std::make_shared<Frame>(d.render(2)), Region(Rect{0, 0, 96, 64}));
    VncServerConfig cfg;
    cfg.port = 0;
    cfg.security = std::move(sec);
    cfg.link_timeout = link_timeout;
    cfg.guard = guard;
    server = std::make_unique<VncServer>(cfg, hub, [](const InputEvent&) {});
    server->start();
  }

  static SecurityConfig vnc_auth() {
    SecurityConfig s;
    s.offer = {Method::VncAuth};
    s.password = kPassword;
    return s;
  }

  // One VNC authentication with `password`; returns the SecurityResult (0 accepted).
  static uint32_t try_password(uint16_t port, const std::string& password, AuthGuard* guard_to_read = nullptr,
                               unsigned* failures_when_told = nullptr) {
    Rfb c(port);
    if (c.hello() != std::vector<uint8_t>{2}) return 0xFFFFFFFF;
    c.send(std::vector<uint8_t>{2});
    auto ch = c.bytes(16);
    if (ch.size() != 16) return 0xFFFFFFFF;
    VncChallenge challenge{};
    std::copy(ch.begin(), ch.end(), challenge.begin());
    auto resp = vnc_auth_response(password, challenge);
    c.send(std::vector<uint8_t>(resp.begin(), resp.end()));
    uint32_t result = c.u32();
    if (guard_to_read && failures_when_told) *failures_when_told = guard_to_read->failures("127.0.0.1");
    return result;
  }

  LogCapture logs;
  FrameHub hub;
  std::shared_ptr<AuthGuard> guard = std::make_shared<AuthGuard>();
  std::unique_ptr<VncServer> server;
  std::unique_ptr<spice::SpiceServer> spice;
};

// ---- the protocol version ------------------------------------------------------------------

TEST(RfbVersion, ParsedByHandExactlyAsTwelveBytes) {
  auto parse = [](const std::string& s) { return parse_rfb_version(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size())); };
  auto v = parse("RFB 003.008\n");
  EXPECT_EQ(v.major, 3);
  EXPECT_EQ(v.minor, 8);
  EXPECT_EQ(parse("RFB 003.889\n").minor, 889);  // Apple's, treated as 3.8 by the caller
  // What sscanf's %3d let through: leading blanks and signs, and digits that are not three.
  for (std::string bad : {"RFB  03.008\n", "RFB +03.008\n", "RFB 003.-08\n", "RFB 003.0 8\n", "RFB 003.008 ",
                          "RFB 0x3.008\n", "rfb 003.008\n", "RFB 003,008\n"})
    EXPECT_THROW(parse(bad), net::ProtocolError) << bad;
  EXPECT_THROW(parse("RFB 003.008"), net::ProtocolError);  // 11 bytes
}

TEST_F(VncSecurityTest, AVersionWithBlanksIsNotAnRfbClient) {
  start(vnc_auth());
  Rfb c(server->port());
  c.bytes(12);
  c.send(std::string("RFB  03.008\n"));
  EXPECT_TRUE(c.closed());
  EXPECT_TRUE(logs.wait_for("not an RFB client"));
}

// ---- which methods a configuration allows --------------------------------------------------

TEST(VncDefaultOffer, CertificatesBringOnlyX509SubTypes) {
  using V = std::vector<Method>;
  EXPECT_EQ(default_offer(true, true, false, false), (V{Method::X509Sasl, Method::X509Plain}))
      << "plain SASL beside VeNCrypt: a client without a certificate, or a man in the middle, picks it";
  EXPECT_EQ(default_offer(true, false, true, false), (V{Method::X509Plain, Method::X509Vnc}));
  EXPECT_EQ(default_offer(true, false, false, true), (V{Method::X509None}));
  EXPECT_EQ(default_offer(false, true, false, false), (V{Method::Sasl}));
  EXPECT_EQ(default_offer(false, false, false, true), (V{Method::None}));
  EXPECT_THROW(default_offer(false, false, true, false), std::invalid_argument);  // DES in clear
}

TEST_F(VncSecurityTest, ClientCertificatesRequiredOnEveryOfferedMethod) {
  auto verifying = TlsContext::load({g_root + "/pki", true});
  auto plain_x509 = TlsContext::load({g_root + "/pki", false});
  auto check = [&](std::vector<Method> offer, std::shared_ptr<const TlsContext> x509) {
    SecurityConfig s;
    s.offer = std::move(offer);
    s.x509 = std::move(x509);
    s.anon = TlsContext::anonymous();
    s.password = kPassword;
    s.sasl = true;
    s.require_client_certificate = true;
    s.validate();
  };
  EXPECT_NO_THROW(check({Method::X509Sasl, Method::X509Plain, Method::X509Vnc}, verifying));
  // Each of these is a way in without a certificate.
  for (Method m : {Method::Sasl, Method::VncAuth, Method::TlsVnc, Method::TlsPlain, Method::TlsSasl}) {
    try {
      check({Method::X509Sasl, m}, verifying);
      ADD_FAILURE() << method_name(m) << " was accepted beside --tls-verify-client";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("does not check a client certificate"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(check({Method::X509Vnc}, plain_x509), std::invalid_argument);  // the TLS does not ask for one
}

TEST_F(VncSecurityTest, MethodsWithoutAuthenticationNeedDisableTicketing) {
  auto x509 = TlsContext::load({g_root + "/pki", false});
  for (Method m : {Method::None, Method::X509None, Method::TlsNone}) {
    SecurityConfig s;
    s.offer = {Method::X509Vnc, m};
    s.x509 = x509;
    s.anon = TlsContext::anonymous();
    s.password = kPassword;
    try {
      s.validate();
      ADD_FAILURE() << method_name(m) << " silently dropped the password";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("needs --disable-ticketing"), std::string::npos) << e.what();
    }
    s.offer = {m};
    s.password.reset();
    s.allow_no_auth = true;
    EXPECT_NO_THROW(s.validate()) << method_name(m);
  }
}

// ---- counting refused credentials ----------------------------------------------------------

TEST(VncHandshake, RefusedCredentialsAreCountedBeforeTheClientIsTold) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  int client = fds[1];
  std::thread peer([client] {
    auto read_n = [&](size_t n) {
      std::vector<uint8_t> b(n);
      size_t got = 0;
      while (got < n) {
        ssize_t r = ::read(client, b.data() + got, n - got);
        if (r <= 0) break;
        got += size_t(r);
      }
      return b;
    };
    read_n(12);
    (void)!::write(client, "RFB 003.008\n", 12);
    read_n(2);  // one type: VNC authentication
    uint8_t t = 2;
    (void)!::write(client, &t, 1);
    auto ch = read_n(16);
    VncChallenge challenge{};
    std::copy(ch.begin(), ch.end(), challenge.begin());
    auto resp = vnc_auth_response("wrong", challenge);
    (void)!::write(client, resp.data(), resp.size());
  });
  SecurityConfig cfg;
  cfg.offer = {Method::VncAuth};
  cfg.password = kPassword;
  int unread_when_counted = -1;
  AuthGuard::Identity counted_for = "nobody yet";
  {
    net::Socket s(fds[0]);
    EXPECT_THROW(run_security(s, cfg, std::chrono::steady_clock::now() + 5s,
                              [&](const AuthGuard::Identity& who) {
                                ::ioctl(client, FIONREAD, &unread_when_counted);
                                counted_for = who;
                              }),
                 AuthRefused);
    peer.join();
  }
  EXPECT_EQ(unread_when_counted, 0) << "the client had been told before the failure was counted";
  EXPECT_EQ(counted_for, AuthGuard::kVncDesPassword);
  ::close(client);
}

TEST_F(VncSecurityTest, AWrongPasswordIsCountedByTheTimeTheClientReadsTheAnswer) {
  start(vnc_auth());
  unsigned counted = 99;
  EXPECT_EQ(try_password(server->port(), "wrong", guard.get(), &counted), 1u);
  EXPECT_EQ(counted, 1u);
  EXPECT_EQ(try_password(server->port(), kPassword), 0u);
  // Its own failure is taken back (once the server is past the handshake).
  auto deadline = std::chrono::steady_clock::now() + 2s;
  while (guard->failures("127.0.0.1") != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(guard->failures("127.0.0.1"), 0u);
}

// Silent connections that fill the per-address limit do not lock a real viewer out: the one
// silent longest is closed for it (shared with SPICE: one guard).
TEST_F(VncSecurityTest, StalledConnectionsMakeRoomForARealViewer) {
  AuthLimits limits;
  limits.max_unauthenticated_per_address = 2;
  limits.evict_silent_after = 300ms;
  guard = std::make_shared<AuthGuard>(limits);
  start(vnc_auth());
  Rfb a(server->port()), b(server->port());
  std::this_thread::sleep_for(500ms);  // they read the version and say nothing
  EXPECT_EQ(try_password(server->port(), kPassword), 0u);
  EXPECT_TRUE(a.closed(2000));
  EXPECT_TRUE(logs.wait_for("that sent nothing for"));
  EXPECT_EQ(guard->evictions(), 1u);
}

TEST_F(VncSecurityTest, StallingUntilNearTheDeadlineCountsHoweverItEnds) {
  start(vnc_auth(), 400ms);
  {
    Rfb quick(server->port());  // a port scan or health check: hangs up at once, not counted
    quick.bytes(12);
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(guard->failures("127.0.0.1"), 0u);
  {
    Rfb staller(server->port());
    staller.bytes(12);
    std::this_thread::sleep_for(300ms);  // past half the deadline, then gone before it
  }
  EXPECT_TRUE(logs.wait_for("counted as a failed authentication"));
  EXPECT_EQ(guard->failures("127.0.0.1"), 1u);
}

TEST_F(VncSecurityTest, SpiceAndVncShareOneCountOfFailures) {
  AuthLimits limits;
  limits.free_failures = 3;
  guard = std::make_shared<AuthGuard>(limits);
  start(vnc_auth());
  spice::SpiceServerConfig sc;
  sc.port = 0;
  sc.guard = guard;
  spice = std::make_unique<spice::SpiceServer>(sc, hub, TicketPolicy::with_password(kPassword, std::nullopt),
                                               [](const InputEvent&) {});
  spice->start();
  for (int i = 0; i < 2; ++i) {
    LinkOutcome o;
    EXPECT_FALSE(ChannelClient::open(spice->port(), 0, SPICE_CHANNEL_MAIN, "wrong", {}, &o));
    EXPECT_EQ(o.auth_result, uint32_t(SPICE_LINK_ERR_PERMISSION_DENIED));
    EXPECT_EQ(try_password(server->port(), "wrong"), 1u);
  }
  EXPECT_EQ(guard->failures("127.0.0.1"), 4u);
  // Past the free failures on both ports together: both refuse at once.
  Rfb refused(server->port());
  EXPECT_TRUE(refused.closed(2000));
  RawConn spice_refused(spice->port());
  EXPECT_TRUE(spice_refused.wait_closed(2000));
  EXPECT_TRUE(logs.wait_for("4 failed authentications from 127.0.0.1"));
}

// ---- unauthenticated text in the log ------------------------------------------------------

TEST_F(VncSecurityTest, SaslMechanismNamesFollowTheSpiceRule) {
  SecurityConfig s;
  s.offer = {Method::Sasl};
  s.sasl = true;
  start(s);
  Rfb c(server->port());
  ASSERT_EQ(c.hello(), std::vector<uint8_t>{20});
  c.send(std::vector<uint8_t>{20});
  uint32_t n = c.u32();
  ASSERT_LT(n, 1000u);
  auto list = c.bytes(n);
  EXPECT_EQ(std::string(list.begin(), list.end()), "DIGEST-MD5");  // PLAIN needs TLS
  std::string evil = "DIGEST-MD5\n\x1b[31mvnc: linked";
  c.send(BeWriter().u32(uint32_t(evil.size())).str(evil).take());
  EXPECT_TRUE(c.closed());
  EXPECT_TRUE(logs.wait_for("SASL mechanism name holds a character outside A-Z, 0-9, '-', '_'"));
  EXPECT_FALSE(logs.contains("\x1b[31m"));
}

// A VeNCrypt client up to TLS, then Plain credentials inside it.
struct PlainOverTls {
  explicit PlainOverTls(uint16_t port) : rfb(port) {}
  // Returns the SecurityResult, or 0xFFFFFFFF when the handshake broke.
  uint32_t login(const std::string& user, const std::string& password) {
    if (rfb.hello() != std::vector<uint8_t>{19}) return 0xFFFFFFFF;
    rfb.send(std::vector<uint8_t>{19});
    rfb.bytes(2);
    rfb.send(std::vector<uint8_t>{0, 2});
    auto head = rfb.bytes(2);
    if (head.size() != 2 || head[0] != 0) return 0xFFFFFFFF;
    rfb.bytes(size_t(head[1]) * 4);
    rfb.send(BeWriter().u32(rfb::kX509Plain).take());
    if (rfb.u8() != 1) return 0xFFFFFFFF;
    ctx = SSL_CTX_new(TLS_client_method());
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, rfb.fd_);
    if (SSL_connect(ssl) != 1) return 0xFFFFFFFF;
    auto msg = BeWriter().u32(uint32_t(user.size())).u32(uint32_t(password.size())).str(user).str(password).take();
    if (SSL_write(ssl, msg.data(), int(msg.size())) != int(msg.size())) return 0xFFFFFFFF;
    uint8_t r[4];
    if (SSL_read(ssl, r, 4) != 4) return 0xFFFFFFFF;
    return BeReader(r, "result").u32();
  }
  ~PlainOverTls() {
    if (ssl) SSL_free(ssl);
    if (ctx) SSL_CTX_free(ctx);
  }
  Rfb rfb;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
};

TEST_F(VncSecurityTest, PlainUserNamesAreEscapedAndCutInTheLog) {
  SecurityConfig s;
  s.offer = {Method::X509Plain};
  s.x509 = TlsContext::load({g_root + "/pki", false});
  s.password = kPassword;
  start(s);
  std::string user = "mallory\nvnc 10.0.0.9: linked\x1b[0m" + std::string(900, 'A');
  PlainOverTls c(server->port());
  EXPECT_EQ(c.login(user, "wrong"), 1u);
  EXPECT_TRUE(logs.wait_for("wrong user name or password for mallory\\x0avnc 10.0.0.9: linked\\x1b[0mAAAA"));
  EXPECT_TRUE(logs.contains("...(" + std::to_string(user.size()) + " bytes in all)"));
  EXPECT_FALSE(logs.contains("mallory\n"));
  EXPECT_FALSE(logs.contains(std::string(200, 'A')));
}

}  // namespace
