// libFuzzer: what a client sends to log in, after the security type (and TLS) is settled, on
// both protocols: VNC Plain against the password file and through Cyrus, the VNC SASL exchange,
// and the SPICE SASL exchange. Cyrus runs for real (PLAIN, DIGEST-MD5, SCRAM-SHA-256 from a
// private sasldb holding one user), as over TLS. The first byte picks the exchange; the rest is
// the client's stream. Any bytes: a login, a refusal or a ProtocolError, never a crash.
#include <sasl/sasl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "auth/sasl_auth.h"
#include "transport/spice/sasl_link.h"
#include "transport/vnc/vnc_security.h"

using namespace tessera;
namespace fs = std::filesystem;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string root = (fs::temp_directory_path() / ("tessera-fuzz-sasl-" + std::to_string(::getpid()))).string();
  fs::create_directories(root);
  std::ofstream(root + "/tessera.conf") << "mech_list: PLAIN DIGEST-MD5 SCRAM-SHA-256\nsasldb_path: " << root
                                        << "/sasldb2\n";
  SaslAuth::init(SaslConfig{"tessera", root});
  static const std::string dir = root;  // Cyrus reads it at init only
  std::atexit([] { fs::remove_all(dir); });
  for (const char* service : {"vnc", "spice"}) {
    sasl_conn_t* conn = nullptr;
    if (sasl_server_new(service, nullptr, nullptr, nullptr, nullptr, nullptr, 0, &conn) != SASL_OK) std::abort();
    const char* pass = "fuzz-pass";
    sasl_setpass(conn, "fuzz", pass, unsigned(std::strlen(pass)), nullptr, 0, SASL_SET_CREATE);
    sasl_dispose(&conn);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 65536) return 0;  // the socket pair's buffer must hold the whole input
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 0;
  int buf = 1 << 20;
  setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);  // our replies, never read
  if (size > 1 && ::write(fds[1], data + 1, size - 1) != ssize_t(size - 1)) __builtin_trap();
  ::shutdown(fds[1], SHUT_WR);
  net::Socket s(fds[0]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  vnc::SecurityConfig cfg;
  cfg.password = "fuzz-pass";
  std::string log;
  int refused = 0;
  vnc::FailureHook failed = [&](const AuthGuard::Identity&) { ++refused; };
  try {
    switch (data[0] % 4) {
      case 0:
        vnc::run_plain(s, cfg, 8, deadline, failed, &log);
        break;
      case 1:
        cfg.sasl = true;
        vnc::run_plain(s, cfg, 8, deadline, failed, &log);
        break;
      case 2:
        cfg.sasl = true;
        vnc::run_sasl(s, cfg, 8, 256, deadline, failed, &log);
        break;
      default: {
        SaslAuth sasl("spice", "", "", 256);
        spice::run_sasl_exchange(s, sasl, deadline);
      }
    }
  } catch (const net::ProtocolError&) {
  } catch (const SaslError&) {
  }
  if (refused > 1) __builtin_trap();  // one exchange, counted at most once
  ::close(fds[1]);
  return 0;
}
