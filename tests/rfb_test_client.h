#pragma once
// A blocking RFB client that tests drive byte by byte: hostile handshakes and messages, and the
// plain steps of a well-behaved one.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tessera::test {

class Rfb {
 public:
  explicit Rfb(uint16_t port);
  ~Rfb();
  Rfb(const Rfb&) = delete;
  Rfb& operator=(const Rfb&) = delete;
  void send(const std::vector<uint8_t>& b);
  void send(const std::string& s) { send(std::vector<uint8_t>(s.begin(), s.end())); }
  // Reads exactly n bytes; false on EOF, error or timeout.
  bool recv(void* buf, size_t n, int timeout_ms = 5000);
  std::vector<uint8_t> bytes(size_t n);  // empty when they did not all come
  uint32_t u32();                        // 0xFFFFFFFF when it did not come
  uint8_t u8();                          // 0xFF when it did not come
  // Drains whatever comes until the server closes; true if it closed within the timeout.
  bool closed(int timeout_ms = 5000);
  // Version and the 3.7+ type list; returns the offered types.
  std::vector<uint8_t> hello(const char* version = "RFB 003.008\n");
  // ClientInit and ServerInit: returns the framebuffer size.
  std::pair<int, int> init();
  // A client of a server offering None, past ServerInit: ready for messages.
  static std::unique_ptr<Rfb> open_none(uint16_t port);
  int fd_ = -1;
};

}  // namespace tessera::test
