#pragma once
// The RFB handshake up to ServerInit's doorstep: protocol version, security types, and the
// chosen method (None, VNC authentication, VeNCrypt with TLS or X509 and an inner method, or
// SASL). Every failure is answered as the negotiated version expects, then thrown with the
// reason for the log.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
  // Throws std::invalid_argument when a method cannot work with what is configured.
  void validate() const;
};

// Credentials refused: counts against the address.
struct AuthRefused : net::ProtocolError {
  using net::ProtocolError::ProtocolError;
};

struct HandshakeResult {
  int minor = 8;     // 3, 7 or 8
  std::string auth;  // for the log: "VeNCrypt X509Plain as alice"
};

HandshakeResult run_security(Socket& socket, const SecurityConfig& cfg, Deadline deadline);

}  // namespace tessera::vnc
