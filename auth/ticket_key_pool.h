#pragma once
// Fresh RSA keys for SPICE ticket authentication, one per link, as spice-server does: a ticket
// is then bound to the connection that received the public key, so recorded link bytes cannot
// be replayed on another connection. RSA-1024 generation takes milliseconds, so a background
// thread keeps a few keys ready; when the pool runs dry (a burst of links) the caller makes its
// own. Thread-safe.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>

#include "auth/ticket_key.h"

namespace tessera {

class TicketKeyPool {
 public:
  // A session links four channels at once; two sessions' worth are kept ready.
  static constexpr size_t kDefaultSize = 8;

  explicit TicketKeyPool(size_t size = kDefaultSize);
  ~TicketKeyPool();
  TicketKeyPool(const TicketKeyPool&) = delete;
  TicketKeyPool& operator=(const TicketKeyPool&) = delete;

  // A key no other caller ever gets. Throws std::runtime_error if OpenSSL cannot make one.
  TicketKey take();
  size_t ready() const;
  // Keys made by callers because the pool was empty (a sign that it is too small).
  size_t made_inline() const;

 private:
  void refill_loop();

  const size_t size_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TicketKey> keys_;
  size_t made_inline_ = 0;
  bool stopping_ = false;
  std::thread refill_;
};

}  // namespace tessera
