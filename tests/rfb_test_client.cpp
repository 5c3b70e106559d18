#include "tests/rfb_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "transport/vnc/rfb_wire.h"

namespace tessera::test {

using vnc::BeReader;

Rfb::Rfb(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd_);
    throw std::runtime_error("connect");
  }
}

Rfb::~Rfb() { ::close(fd_); }

void Rfb::send(const std::vector<uint8_t>& b) {
  ASSERT_EQ(::send(fd_, b.data(), b.size(), MSG_NOSIGNAL), ssize_t(b.size()));
}

bool Rfb::recv(void* buf, size_t n, int timeout_ms) {
  auto* p = static_cast<uint8_t*>(buf);
  size_t got = 0;
  while (got < n) {
    pollfd pf{fd_, POLLIN, 0};
    if (::poll(&pf, 1, timeout_ms) <= 0) return false;
    ssize_t r = ::recv(fd_, p + got, n - got, 0);
    if (r <= 0) return false;
    got += size_t(r);
  }
  return true;
}

std::vector<uint8_t> Rfb::bytes(size_t n) {
  std::vector<uint8_t> b(n);
  if (!recv(b.data(), n)) b.clear();
  return b;
}

uint32_t Rfb::u32() {
  auto b = bytes(4);
  return b.size() == 4 ? BeReader(b, "u32").u32() : 0xFFFFFFFF;
}

uint8_t Rfb::u8() {
  auto b = bytes(1);
  return b.empty() ? 0xFF : b[0];
}

bool Rfb::closed(int timeout_ms) {
  uint8_t buf[4096];
  for (;;) {
    pollfd pf{fd_, POLLIN, 0};
    if (::poll(&pf, 1, timeout_ms) <= 0) return false;
    if (::recv(fd_, buf, sizeof buf, 0) <= 0) return true;
  }
}

std::vector<uint8_t> Rfb::hello(const char* version) {
  EXPECT_EQ(bytes(12).size(), 12u);
  send(std::string(version));
  uint8_t n = u8();
  return bytes(n);
}

std::pair<int, int> Rfb::init() {
  send(std::vector<uint8_t>{1});
  auto h = bytes(24);
  if (h.size() != 24) return {0, 0};
  BeReader r(h, "ServerInit");
  int w = r.u16(), ht = r.u16();
  r.skip(16);
  bytes(r.u32());
  return {w, ht};
}

std::unique_ptr<Rfb> Rfb::open_none(uint16_t port) {
  auto c = std::make_unique<Rfb>(port);
  c->hello();
  c->send(std::vector<uint8_t>{1});
  c->u32();
  c->init();
  return c;
}

}  // namespace tessera::test
