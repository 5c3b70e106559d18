#pragma once
// Fresh RSA keys for SPICE ticket authentication, one per link, as spice-server does: a ticket
// is then bound to the connection that received the public key, so recorded link bytes cannot
// be replayed on another connection. RSA-1024 generation takes milliseconds, so a background
// thread keeps a few keys ready. When the pool is dry, one caller at a time makes its own and
// the others wait for the next key: a flood of unauthenticated links costs at most two cores'
// worth of key generation, never one per connection. Thread-safe.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
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

  // A key no other caller ever gets, or nullopt when none could be had before `deadline`.
  // Throws std::runtime_error if OpenSSL cannot make one.
  std::optional<TicketKey> take(std::chrono::steady_clock::time_point deadline);
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
  bool inline_busy_ = false;  // a caller is making its own key
  bool stopping_ = false;
  std::thread refill_;
};

}  // namespace tessera
