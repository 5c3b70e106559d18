// libFuzzer: the RFB handshake (version, security type, VeNCrypt version and sub-type
// negotiation, then the TLS handshake for TLS sub-types, VNC authentication) takes any bytes a
// client sends and ends with a result or a ProtocolError, never a crash. What a client sends
// inside TLS (Plain, SASL) is fuzz_credentials'.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

#include "transport/vnc/vnc_security.h"

using namespace tessera;
using namespace tessera::vnc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  static SecurityConfig cfg = [] {
    SecurityConfig c;
    c.offer = {Method::None, Method::VncAuth, Method::TlsPlain, Method::TlsVnc, Method::TlsNone};
    c.anon = TlsContext::anonymous();
    c.password = "fuzz";
    c.allow_no_auth = true;
    return c;
  }();
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 0;
  if (size && ::write(fds[1], data, size) != ssize_t(size)) __builtin_trap();
  ::shutdown(fds[1], SHUT_WR);
  Socket s(fds[0]);
  try {
    HandshakeResult r = run_security(s, cfg, std::chrono::steady_clock::now() + std::chrono::seconds(1));
    if (r.minor != 3 && r.minor != 7 && r.minor != 8) __builtin_trap();
  } catch (const net::ProtocolError&) {
  } catch (const SecureLayerError&) {
  }
  ::close(fds[1]);
  return 0;
}
