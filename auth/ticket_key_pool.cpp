#include "auth/ticket_key_pool.h"

#include "core/log.h"

namespace tessera {

TicketKeyPool::TicketKeyPool(size_t size) : size_(size == 0 ? 1 : size) {
  // The first key is made here, so a server that starts has shown that OpenSSL can make them.
  keys_.push_back(TicketKey::generate());
  refill_ = std::thread([this] { refill_loop(); });
}

TicketKeyPool::~TicketKeyPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  refill_.join();
}

std::optional<TicketKey> TicketKeyPool::take(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  for (;;) {
    if (!keys_.empty()) {
      TicketKey k = std::move(keys_.front());
      keys_.pop_front();
      cv_.notify_all();
      return k;
    }
    if (!inline_busy_) break;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && keys_.empty()) return std::nullopt;
  }
  inline_busy_ = true;
  ++made_inline_;
  lock.unlock();
  cv_.notify_all();  // the refill thread starts on the next one meanwhile
  try {
    TicketKey k = TicketKey::generate();
    lock.lock();
    inline_busy_ = false;
    cv_.notify_all();
    return k;
  } catch (...) {
    if (!lock.owns_lock()) lock.lock();
    inline_busy_ = false;
    cv_.notify_all();
    throw;
  }
}

size_t TicketKeyPool::ready() const {
  std::lock_guard lock(mu_);
  return keys_.size();
}

size_t TicketKeyPool::made_inline() const {
  std::lock_guard lock(mu_);
  return made_inline_;
}

void TicketKeyPool::refill_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait(lock, [&] { return stopping_ || keys_.size() < size_; });
    if (stopping_) break;
    lock.unlock();
    std::optional<TicketKey> k;
    std::string error;
    try {
      k = TicketKey::generate();
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "unknown error";
    }
    lock.lock();
    if (k) {
      keys_.push_back(std::move(*k));
      cv_.notify_all();
      continue;
    }
    // Callers then make their own keys and see the error themselves.
    spdlog::error("spice: cannot make a ticket key in the background: {}", error);
    cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
  }
}

}  // namespace tessera
