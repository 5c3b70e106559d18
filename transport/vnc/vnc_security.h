#pragma once
// The RFB handshake up to ServerInit's doorstep: protocol version, security types, and the
// chosen method (None, VNC authentication, VeNCrypt with TLS or X509 and an inner method, or
// SASL). Every failure is answered as the negotiated version expects, then thrown with the
// reason for the log.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "auth/auth_guard.h"
#include "auth/tls_context.h"
#include "transport/net/socket.h"

namespace tessera::vnc {

using net::Deadline;
using net::Socket;

enum class Method { None, VncAuth, Sasl, X509None, X509Vnc, X509Plain, X509Sasl, TlsNone, TlsVnc, TlsPlain, TlsSasl };

std::optional<Method> parse_method(const std::string& name);  // "none", "x509vnc", ...
const char* method_name(Method m);                            // "None", "VeNCrypt X509Vnc", ...
bool is_vencrypt(Method m);
bool is_anonymous_tls(Method m);
uint32_t vencrypt_subtype(Method m);

struct SecurityConfig {
  std::vector<Method> offer;                   // in the server's order of preference
  std::shared_ptr<const TlsContext> x509;      // for X509* sub-types
  std::shared_ptr<const TlsContext> anon;      // for TLS* sub-types
  bool sasl = false;                           // SASL (and Plain through Cyrus)
  std::optional<std::string> password;         // VNC authentication (first 8 characters) and Plain
  std::optional<std::chrono::steady_clock::time_point> password_expires;  // --ticket-expiry
  bool allow_no_auth = false;  // --disable-ticketing: None, X509None and TLSNone may be offered
  // --tls-verify-client: every offered method must be an X509 sub-type whose TLS checks a client
  // certificate, or a client without one would simply pick another.
  bool require_client_certificate = false;
  // Throws std::invalid_argument when a method cannot work with what is configured, or would
  // let in someone the configuration means to keep out.
  void validate() const;
};

// What to offer when --vnc-security is not given: with certificates only the X509 sub-types the
// credentials allow (never plain SASL beside them: the type list goes in clear, so a man in the
// middle could strip VeNCrypt, and a client without a certificate would pick it); without, SASL
// or None. Throws std::invalid_argument for a password without certificates (DES in clear).
std::vector<Method> default_offer(bool certificates, bool sasl, bool password, bool allow_no_auth);

// Credentials refused. Already counted against the address (through the FailureHook) when thrown.
struct AuthRefused : net::ProtocolError {
  AuthRefused(const std::string& why, AuthGuard::Identity w) : ProtocolError(why), who(std::move(w)) {}
  AuthGuard::Identity who;
};

struct HandshakeResult {
  int minor = 8;            // 3, 7 or 8
  std::string auth;         // for the log: "VeNCrypt X509Plain as alice"
  AuthGuard::Identity who;  // whose credentials were accepted (see AuthGuard)
};

// Called when credentials are refused, before the client is told: a client that retries at once
// already meets the count.
using FailureHook = std::function<void(const AuthGuard::Identity& who)>;

// The fixed 12-byte "RFB xxx.yyy\n" a client sends first; throws ProtocolError unless it is one.
struct RfbVersion {
  int major = 0, minor = 0;
};
RfbVersion parse_rfb_version(std::span<const uint8_t> twelve);

HandshakeResult run_security(Socket& socket, const SecurityConfig& cfg, Deadline deadline,
                             const FailureHook& failed = {});

// The inner exchanges run_security ends with, once the security type (and TLS, for VeNCrypt) is
// settled; public for tests and the fuzzer. Each sends SecurityResult "ok" and returns who logged
// in (appending "as NAME" to `log`), or answers as `minor` expects and throws.
// Plain: user name and password lengths, then both; checked by Cyrus with cfg.sasl, else
// against the password file.
AuthGuard::Identity run_plain(Socket& socket, const SecurityConfig& cfg, int minor, Deadline deadline,
                              const FailureHook& failed, std::string* log);
// SASL: the mechanism list, the client's choice and start data, then steps until Cyrus is done.
// `tls_bits` is the TLS cipher strength under it (0: none, so only mechanisms with a layer).
AuthGuard::Identity run_sasl(Socket& socket, const SecurityConfig& cfg, int minor, unsigned tls_bits,
                             Deadline deadline, const FailureHook& failed, std::string* log);

}  // namespace tessera::vnc
