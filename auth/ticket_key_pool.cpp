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

TicketKey TicketKeyPool::take() {
  {
    std::lock_guard lock(mu_);
    if (!keys_.empty()) {
      TicketKey k = std::move(keys_.front());
      keys_.pop_front();
      cv_.notify_all();
      return k;
    }
    ++made_inline_;
  }
  cv_.notify_all();
  return TicketKey::generate();
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
    try {
      TicketKey k = TicketKey::generate();
      lock.lock();
      keys_.push_back(std::move(k));
    } catch (const std::exception& e) {
      // Callers then make their own keys and see the error themselves.
      spdlog::error("spice: cannot make a ticket key in the background: {}", e.what());
      lock.lock();
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
    }
  }
}

}  // namespace tessera
