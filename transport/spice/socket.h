#pragma once
// A connected TCP socket with the two operations the protocol needs: read exactly n bytes
// (with an optional deadline) and write everything (serialised between threads, bounded by a
// send timeout so a client that stops reading cannot hold a sender forever).
#include <chrono>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>

namespace tessera::spice {

class Socket {
 public:
  explicit Socket(int fd);
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  // Throws ProtocolError on EOF ("closed the connection"), error or timeout.
  // timeout 0 = wait as long as it takes.
  void read_exact(void* buf, size_t n, std::chrono::milliseconds timeout, const char* what);
  // Waits until data is readable; false on timeout.
  bool wait_readable(std::chrono::milliseconds timeout);
  void write_all(std::span<const uint8_t> data);
  void write_all(std::span<const uint8_t> a, std::span<const uint8_t> b);
  void set_send_timeout(std::chrono::milliseconds t);
  // Wakes any thread blocked on this socket; later calls fail.
  void shutdown();
  const std::string& peer() const { return peer_; }
  int fd() const { return fd_; }

 private:
  void write_locked(std::span<const uint8_t> data);
  int fd_;
  std::string peer_;
  std::mutex write_mu_;
};

// Binds and listens; throws std::runtime_error naming the address on failure.
int listen_tcp(const std::string& address, uint16_t port);
uint16_t local_port(int fd);

}  // namespace tessera::spice
