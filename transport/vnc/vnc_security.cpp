#include "transport/vnc/vnc_security.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "auth/sasl_auth.h"
#include "transport/net/sasl_framing.h"
#include "auth/tls_layer.h"
#include "auth/vnc_des.h"
#include "core/log.h"
#include "core/printable.h"
#include "transport/vnc/rfb_wire.h"

namespace tessera::vnc {

using net::time_left;

namespace {

struct MethodInfo {
  Method m;
  const char* key;
  const char* name;
  uint32_t subtype;  // 0: not VeNCrypt
};

constexpr MethodInfo kMethods[] = {
    {Method::None, "none", "None", 0},
    {Method::VncAuth, "vnc", "VncAuth", 0},
    {Method::Sasl, "sasl", "SASL", 0},
    {Method::X509None, "x509none", "VeNCrypt X509None", rfb::kX509None},
    {Method::X509Vnc, "x509vnc", "VeNCrypt X509Vnc", rfb::kX509Vnc},
    {Method::X509Plain, "x509plain", "VeNCrypt X509Plain", rfb::kX509Plain},
    {Method::X509Sasl, "x509sasl", "VeNCrypt X509SASL", rfb::kX509Sasl},
    {Method::TlsNone, "tlsnone", "VeNCrypt TLSNone", rfb::kTlsNone},
    {Method::TlsVnc, "tlsvnc", "VeNCrypt TLSVnc", rfb::kTlsVnc},
    {Method::TlsPlain, "tlsplain", "VeNCrypt TLSPlain", rfb::kTlsPlain},
    {Method::TlsSasl, "tlssasl", "VeNCrypt TLSSASL", rfb::kTlsSasl},
};

const MethodInfo& info(Method m) {
  for (const auto& i : kMethods)
    if (i.m == m) return i;
  return kMethods[0];
}

constexpr size_t kMaxPlainField = 1024;

uint8_t read_u8(Socket& s, Deadline d, const char* what) {
  uint8_t b;
  s.read_exact(&b, 1, time_left(d), what);
  return b;
}

uint32_t read_u32(Socket& s, Deadline d, const char* what) {
  uint8_t b[4];
  s.read_exact(b, 4, time_left(d), what);
  return BeReader(b, what).u32();
}

std::string read_string(Socket& s, Deadline d, size_t len, const char* what) {
  std::string v(len, '\0');
  if (len) s.read_exact(v.data(), len, time_left(d), what);
  return v;
}

// One connection's handshake: where to answer, and how to count refused credentials.
struct Exchange {
  Socket& s;
  const SecurityConfig& cfg;
  int minor;
  Deadline d;
  const FailureHook& failed;
};

// Credentials refused: counted first, then SecurityResult "failed" (3.8 carries a reason, older
// versions just close).
[[noreturn]] void refuse_credentials(Exchange& x, const AuthGuard::Identity& who, const std::string& why,
                                     const std::string& log_why = "") {
  if (x.failed) x.failed(who);
  BeWriter w;
  w.u32(1);
  if (x.minor >= 8) w.u32(uint32_t(why.size())).str(why);
  try {
    x.s.write_all(w.take());
  } catch (const net::ProtocolError&) {
  }
  throw AuthRefused(log_why.empty() ? why : log_why, who);
}

// An exchange that broke off without a reply: counted, and closing is the answer.
[[noreturn]] void drop_credentials(Exchange& x, const AuthGuard::Identity& who, const std::string& why) {
  if (x.failed) x.failed(who);
  throw AuthRefused(why, who);
}

void accepted(Socket& s) { s.write_all(BeWriter().u32(0).take()); }

void vnc_auth(Exchange& x) {
  VncChallenge challenge = vnc_random_challenge();
  x.s.write_all(std::span<const uint8_t>(challenge));
  VncChallenge response{};
  x.s.read_exact(response.data(), response.size(), time_left(x.d), "VNC authentication response");
  // Its own identity: DES checks only 8 characters, so a success here must not take back the
  // failures of full-password guesses (tickets, Plain).
  const auto& who = AuthGuard::kVncDesPassword;
  if (!x.cfg.password || !vnc_auth_check(*x.cfg.password, challenge, response))
    refuse_credentials(x, who, "Authentication failed", "wrong password");
  if (x.cfg.password_expires && std::chrono::steady_clock::now() >= *x.cfg.password_expires)
    refuse_credentials(x, who, "Authentication failed", "password expired (--ticket-expiry)");
  accepted(x.s);
}

// Returns the account that logged in.
AuthGuard::Identity plain_auth(Exchange& x, std::string* log) {
  uint32_t ulen = read_u32(x.s, x.d, "Plain user name length");
  uint32_t plen = read_u32(x.s, x.d, "Plain password length");
  if (ulen > kMaxPlainField || plen > kMaxPlainField)
    throw net::ProtocolError(fmt::format("Plain credentials of {} + {} bytes (limit {} each)", ulen, plen,
                                         kMaxPlainField));
  std::string user = read_string(x.s, x.d, ulen, "Plain user name");
  std::string pass = read_string(x.s, x.d, plen, "Plain password");
  // With the password file the user name is not checked: the one password is what is guessed.
  AuthGuard::Identity who = x.cfg.sasl ? AuthGuard::user(user) : AuthGuard::kSharedSecret;
  bool ok;
  if (x.cfg.sasl) {
    SaslAuth sasl("vnc", sasl_address(x.s.fd(), true), sasl_address(x.s.fd(), false), 1);
    {
      Socket::Busy busy(x.s);  // the client waits on Cyrus's backend, not we on it
      ok = sasl.check_password(user, pass);
    }
    // The name Cyrus canonicalised, as SASL logins on either protocol count it.
    if (auto canonical = sasl.claimed_user()) who = AuthGuard::user(*canonical);
  } else {
    std::array<uint8_t, 256> a{}, b{};
    std::memcpy(a.data(), pass.data(), std::min(pass.size(), a.size()));
    if (x.cfg.password) std::memcpy(b.data(), x.cfg.password->data(), std::min(x.cfg.password->size(), b.size()));
    ok = x.cfg.password && pass.size() == x.cfg.password->size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
    OPENSSL_cleanse(a.data(), a.size());
    OPENSSL_cleanse(b.data(), b.size());
  }
  OPENSSL_cleanse(pass.data(), pass.size());
  if (!ok) refuse_credentials(x, who, "Authentication failed", "wrong user name or password for " + printable(user));
  if (!x.cfg.sasl && x.cfg.password_expires && std::chrono::steady_clock::now() >= *x.cfg.password_expires)
    refuse_credentials(x, who, "Authentication failed", "password expired (--ticket-expiry)");
  accepted(x.s);
  *log += " as " + printable(user);
  return who;
}

// QEMU's SASL framing: the SPICE one in big-endian (transport/net/sasl_framing).
std::optional<std::string> read_sasl_data(Socket& s, Deadline d, const char* what) {
  return net::read_sasl_data(s, d, what, net::ByteOrder::Big);
}

void write_sasl_reply(Socket& s, const SaslAuth::Step& st) {
  std::vector<uint8_t> w = net::encode_sasl_data(st.out, net::ByteOrder::Big);
  w.push_back(st.done ? 1 : 0);
  s.write_all(w);
}

AuthGuard::Identity sasl_auth(Exchange& x, unsigned tls_bits, std::string* log) {
  Socket& s = x.s;
  SaslAuth sasl("vnc", sasl_address(s.fd(), true), sasl_address(s.fd(), false), tls_bits);
  std::string list;
  for (const auto& m : sasl.mechanisms()) list += (list.empty() ? "" : ",") + m;
  spdlog::debug("vnc {}: SASL mechanisms offered: {}", s.peer(), list.empty() ? "none" : list);
  if (list.empty())
    refuse_credentials(x, std::nullopt,
                       tls_bits ? "no SASL mechanism is configured"
                                : "no configured SASL mechanism gives a security layer, which a connection without "
                                  "TLS needs");
  s.write_all(BeWriter().u32(uint32_t(list.size())).str(list).take());
  std::string mech = net::read_sasl_mechname(s, x.d, net::ByteOrder::Big);
  auto in = read_sasl_data(s, x.d, "SASL start data");
  auto claimed = [&]() -> AuthGuard::Identity {
    if (auto u = sasl.claimed_user()) return AuthGuard::user(*u);
    return std::nullopt;
  };
  SaslAuth::Step st;
  try {
    auto backend = [&](auto call) {
      Socket::Busy busy(s);  // the client waits on Cyrus's backend, not we on it
      return call();
    };
    st = backend([&] { return sasl.start(mech, in); });
    for (;;) {
      write_sasl_reply(s, st);
      if (st.done) break;
      in = read_sasl_data(s, x.d, "SASL step data");
      st = backend([&] { return sasl.step(in); });
    }
  } catch (const SaslError& e) {
    drop_credentials(x, claimed(), e.what());
  }
  try {
    sasl.check_strength();
  } catch (const SaslError& e) {
    refuse_credentials(x, claimed(), e.what());
  }
  AuthGuard::Identity who = claimed();
  *log += fmt::format(" {} as {}", sasl.mechanism(), printable(sasl.username()));
  unsigned ssf = sasl.ssf();
  accepted(s);  // in clear; the layer starts after it
  if (auto layer = sasl.make_layer(s.fd())) {
    s.set_layer(std::move(layer));
    *log += fmt::format(", security layer SSF {}", ssf);
  }
  return who;
}

}  // namespace

std::optional<Method> parse_method(const std::string& name) {
  for (const auto& i : kMethods)
    if (name == i.key) return i.m;
  return std::nullopt;
}

const char* method_name(Method m) { return info(m).name; }
bool is_vencrypt(Method m) { return info(m).subtype != 0; }
bool is_anonymous_tls(Method m) {
  return m == Method::TlsNone || m == Method::TlsVnc || m == Method::TlsPlain || m == Method::TlsSasl;
}
uint32_t vencrypt_subtype(Method m) { return info(m).subtype; }

std::vector<Method> default_offer(bool certificates, bool sasl, bool password, bool allow_no_auth) {
  std::vector<Method> offer;
  if (certificates) {
    if (sasl) offer.push_back(Method::X509Sasl);
    if (sasl || password) offer.push_back(Method::X509Plain);
    if (password) offer.push_back(Method::X509Vnc);
    if (allow_no_auth) offer.push_back(Method::X509None);
  } else if (sasl) {
    offer.push_back(Method::Sasl);
  } else if (allow_no_auth) {
    offer.push_back(Method::None);
  } else {
    throw std::invalid_argument(
        "VNC with a password needs TLS (--x509-dir), or an explicit --vnc-security vnc to allow VNC's DES "
        "authentication without encryption");
  }
  return offer;
}

bool is_x509(Method m) {
  return m == Method::X509None || m == Method::X509Vnc || m == Method::X509Plain || m == Method::X509Sasl;
}

bool is_no_auth(Method m) { return m == Method::None || m == Method::X509None || m == Method::TlsNone; }

void SecurityConfig::validate() const {
  if (offer.empty()) throw std::invalid_argument("no VNC security type is offered");
  for (Method m : offer) {
    std::string name = info(m).key;
    if (is_x509(m) && !x509) throw std::invalid_argument(name + " needs certificates (--x509-dir)");
    if (is_anonymous_tls(m) && !anon) throw std::invalid_argument(name + " needs anonymous TLS set up");
    if (is_no_auth(m) && !allow_no_auth)
      throw std::invalid_argument(name + " lets anyone in without a password: it needs --disable-ticketing (a "
                                         "password or SASL is never silently dropped)");
    if (require_client_certificate && !(is_x509(m) && x509 && x509->verify_client()))
      throw std::invalid_argument(
          name + " does not check a client certificate, and --tls-verify-client requires one on every way in: "
                 "offer only x509none, x509vnc, x509plain or x509sasl");
    bool needs_password = m == Method::VncAuth || m == Method::X509Vnc || m == Method::TlsVnc;
    if (needs_password && !password) throw std::invalid_argument(name + " needs --password-file");
    if (needs_password) {
      try {
        vnc_auth_response("", VncChallenge{});  // DES from OpenSSL's legacy provider, now rather than per client
      } catch (const std::runtime_error& e) {
        throw std::invalid_argument(name + ": " + e.what());
      }
    }
    bool plain = m == Method::X509Plain || m == Method::TlsPlain;
    if (plain && !password && !sasl) throw std::invalid_argument(name + " needs --password-file or --sasl");
    bool sasl_needed = m == Method::Sasl || m == Method::X509Sasl || m == Method::TlsSasl;
    if (sasl_needed && !sasl) throw std::invalid_argument(name + " needs --sasl");
  }
}

AuthGuard::Identity run_plain(Socket& s, const SecurityConfig& cfg, int minor, Deadline d, const FailureHook& failed,
                              std::string* log) {
  Exchange x{s, cfg, minor, d, failed};
  return plain_auth(x, log);
}

AuthGuard::Identity run_sasl(Socket& s, const SecurityConfig& cfg, int minor, unsigned tls_bits, Deadline d,
                             const FailureHook& failed, std::string* log) {
  Exchange x{s, cfg, minor, d, failed};
  return sasl_auth(x, tls_bits, log);
}

RfbVersion parse_rfb_version(std::span<const uint8_t> v) {
  // Exactly "RFB ddd.ddd\n": read by hand, the buffer is not a terminated string.
  auto digits = [&](size_t at) {
    int n = 0;
    for (size_t i = at; i < at + 3; ++i) {
      if (v[i] < '0' || v[i] > '9') return -1;
      n = n * 10 + (v[i] - '0');
    }
    return n;
  };
  RfbVersion r;
  if (v.size() != 12 || std::memcmp(v.data(), "RFB ", 4) != 0 || v[7] != '.' || v[11] != '\n' ||
      (r.major = digits(4)) < 0 || (r.minor = digits(8)) < 0)
    throw net::ProtocolError("not an RFB client (its first 12 bytes are not \"RFB xxx.yyy\\n\")");
  return r;
}

HandshakeResult run_security(Socket& s, const SecurityConfig& cfg, Deadline d, const FailureHook& failed) {
  HandshakeResult res;
  s.write_all(std::span(reinterpret_cast<const uint8_t*>("RFB 003.008\n"), 12));
  uint8_t v[12];
  s.read_exact(v, 12, time_left(d), "protocol version");
  auto [major, minor] = parse_rfb_version(v);
  if (major != 3) throw net::ProtocolError(fmt::format("RFB protocol {}.{} is not supported (3.x only)", major, minor));
  res.minor = minor >= 8 ? 8 : minor == 7 ? 7 : 3;
  Exchange x{s, cfg, res.minor, d, failed};

  Method chosen;
  if (res.minor == 3) {
    // The server chooses, and only None or VNC authentication exist for 3.3.
    auto it = std::find_if(cfg.offer.begin(), cfg.offer.end(),
                           [](Method m) { return m == Method::None || m == Method::VncAuth; });
    if (it == cfg.offer.end()) {
      std::string why = "No supported security type for 3.3 client";
      s.write_all(BeWriter().u32(0).u32(uint32_t(why.size())).str(why).take());
      throw net::ProtocolError("an RFB 3.3 client can only use None or VNC authentication, neither is offered");
    }
    chosen = *it;
    s.write_all(BeWriter().u32(chosen == Method::None ? rfb::kSecNone : rfb::kSecVncAuth).take());
  } else {
    std::vector<uint8_t> types;
    for (Method m : cfg.offer) {
      uint8_t t = is_vencrypt(m) ? rfb::kSecVeNCrypt
                  : m == Method::None ? rfb::kSecNone
                  : m == Method::VncAuth ? rfb::kSecVncAuth
                                         : rfb::kSecSasl;
      if (std::find(types.begin(), types.end(), t) == types.end()) types.push_back(t);
    }
    BeWriter w;
    w.u8(uint8_t(types.size())).bytes(types);
    s.write_all(w.take());
    uint8_t t = read_u8(s, d, "security type");
    if (std::find(types.begin(), types.end(), t) == types.end()) {
      std::string why = "Requested security type is not available";
      BeWriter r;
      r.u32(1);
      if (res.minor >= 8) r.u32(uint32_t(why.size())).str(why);
      s.write_all(r.take());
      throw net::ProtocolError(fmt::format("the client asked for security type {}, which is not offered", t));
    }
    if (t == rfb::kSecVeNCrypt) {
      s.write_all(BeWriter().u8(0).u8(2).take());
      uint8_t vmaj = read_u8(s, d, "VeNCrypt version"), vmin = read_u8(s, d, "VeNCrypt version");
      if (vmaj != 0 || vmin != 2) {
        s.write_all(BeWriter().u8(1).take());
        throw net::ProtocolError(fmt::format("VeNCrypt version {}.{} (only 0.2 is served)", vmaj, vmin));
      }
      std::vector<Method> subs;
      for (Method m : cfg.offer)
        if (is_vencrypt(m)) subs.push_back(m);
      BeWriter l;
      l.u8(0).u8(uint8_t(subs.size()));
      for (Method m : subs) l.u32(vencrypt_subtype(m));
      s.write_all(l.take());
      uint32_t sub = read_u32(s, d, "VeNCrypt sub-type");
      auto it = std::find_if(subs.begin(), subs.end(), [&](Method m) { return vencrypt_subtype(m) == sub; });
      if (it == subs.end()) {
        s.write_all(BeWriter().u8(0).take());
        throw net::ProtocolError(fmt::format("VeNCrypt sub-type {} was not offered", sub));
      }
      chosen = *it;
      s.write_all(BeWriter().u8(1).take());  // accepted: TLS starts now
      auto ctx = is_anonymous_tls(chosen) ? cfg.anon : cfg.x509;
      s.set_layer(TlsLayer::accept(ctx, s.fd(), d));
    } else {
      chosen = t == rfb::kSecNone ? Method::None : t == rfb::kSecVncAuth ? Method::VncAuth : Method::Sasl;
    }
  }

  res.auth = method_name(chosen);
  switch (chosen) {
    case Method::None:
      if (res.minor >= 8) accepted(s);
      break;
    case Method::X509None:
    case Method::TlsNone:
      accepted(s);
      break;
    case Method::VncAuth:
    case Method::X509Vnc:
    case Method::TlsVnc:
      vnc_auth(x);
      res.who = AuthGuard::kVncDesPassword;
      break;
    case Method::X509Plain:
    case Method::TlsPlain:
      res.who = plain_auth(x, &res.auth);
      break;
    case Method::Sasl:
    case Method::X509Sasl:
    case Method::TlsSasl: {
      unsigned bits = 0;
      if (auto* t = dynamic_cast<TlsLayer*>(s.layer())) bits = std::max(1u, t->cipher_bits());
      res.who = sasl_auth(x, bits, &res.auth);
      break;
    }
  }
  if (auto* t = dynamic_cast<TlsLayer*>(s.layer())) {
    res.auth += " over " + t->describe();
    if (std::string subject = t->peer_subject(); !subject.empty()) res.auth += ", client certificate " + subject;
  }
  return res;
}

}  // namespace tessera::vnc
