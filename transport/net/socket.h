#pragma once
// A connected TCP socket with the two operations the protocol needs: read exactly n bytes
// (with an optional deadline) and write everything (serialised between threads, bounded by a
// send timeout so a client that stops reading cannot hold a sender forever). A security layer
// (TLS, or a SASL layer) can be put under the protocol once it is negotiated; the descriptor is
// non-blocking underneath so that one thread can read while another writes through it.
#include <atomic>
#include <chrono>
#include <memory>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>

#include "auth/secure_layer.h"
#include "transport/net/errors.h"

namespace tessera::net {

class Socket {
 public:
  // TCP liveness every connection gets (see the constructor).
  static constexpr int kKeepAliveIdleS = 15, kKeepAliveIntervalS = 5, kKeepAliveProbes = 3;
  static constexpr unsigned kUnackedTimeoutMs = 30000;
  explicit Socket(int fd);
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  // Throws ProtocolError on EOF ("closed the connection"), error or timeout.
  // timeout 0 = wait as long as it takes.
  void read_exact(void* buf, size_t n, std::chrono::milliseconds timeout, const char* what);
  // Reads one byte if one arrives within `wait`; false if none did (a layer may turn readable
  // bytes into nothing, e.g. half a TLS record). Throws like read_exact on close or error.
  bool try_read_byte(uint8_t* b, std::chrono::milliseconds wait, const char* what);
  // Waits until data is readable; false on timeout.
  bool wait_readable(std::chrono::milliseconds timeout);
  void write_all(std::span<const uint8_t> data);
  void write_all(std::span<const uint8_t> a, std::span<const uint8_t> b);
  void set_send_timeout(std::chrono::milliseconds t) { send_timeout_ = t; }
  // From here on every byte goes through `layer`. Call only while no other thread uses the
  // socket (during the link stage).
  void set_layer(std::unique_ptr<SecureLayer> layer) { layer_ = std::move(layer); }
  SecureLayer* layer() const { return layer_.get(); }
  // Wakes any thread blocked on this socket; later calls fail.
  void shutdown();
  // How long the peer has sent nothing (the kernel's count, so bytes still unread and a TLS
  // handshake in progress count as something); 0 when the kernel cannot say, and while the
  // server itself is busy for this connection (a Busy is alive): then the peer is waiting on us.
  std::chrono::milliseconds silent_for() const;
  // Marks server-side work the peer waits for (a ticket key being made, a SASL backend call).
  class Busy {
   public:
    explicit Busy(Socket& s) : s_(s) { ++s_.busy_; }
    ~Busy() { --s_.busy_; }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

   private:
    Socket& s_;
  };
  const std::string& peer() const { return peer_; }
  // The peer's address without the port: what per-address limits count.
  const std::string& peer_host() const { return peer_host_; }
  int fd() const { return fd_; }

 private:
  void write_locked(std::span<const uint8_t> data);
  void wait_writable(IoWait w);
  int fd_;
  std::string peer_, peer_host_;
  std::chrono::milliseconds send_timeout_{10000};
  std::unique_ptr<SecureLayer> layer_;
  std::mutex write_mu_;
  std::atomic<int> busy_{0};
};

using Deadline = std::chrono::steady_clock::time_point;
// What is left until `d`, never 0 (read_exact takes 0 as "no limit").
std::chrono::milliseconds time_left(Deadline d);

// Binds and listens; throws std::runtime_error naming the address on failure.
int listen_tcp(const std::string& address, uint16_t port);
uint16_t local_port(int fd);

}  // namespace tessera::net
