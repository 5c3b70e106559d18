// libFuzzer: the SPICE SASL framing (mechanism names and length-prefixed data) takes any bytes a
// client sends without crashing, never hands on more than its limits, and ends with an error
// naming the field once the bytes run out.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

#include "transport/spice/sasl_link.h"

using namespace tessera::spice;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65536) return 0;  // the socket pair's buffer must hold the whole input
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 0;
  int buf = 1 << 20;
  setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (size && ::write(fds[1], data, size) != ssize_t(size)) __builtin_trap();
  ::shutdown(fds[1], SHUT_WR);
  Socket s(fds[0]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  try {
    std::string mech = read_sasl_mechname(s, deadline);
    if (mech.empty() || mech.size() > kSaslMaxMechNameBytes) __builtin_trap();
    for (;;) {
      auto d = read_sasl_data(s, deadline, "SASL data");
      if (d && d->size() >= kSaslMaxDataBytes) __builtin_trap();
    }
  } catch (const ProtocolError&) {
  }
  ::close(fds[1]);
  return 0;
}
