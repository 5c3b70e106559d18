#include "auth/auth_guard.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace tessera {

namespace {
constexpr size_t kMaxRecords = 10000;  // bounds the table against address-spraying clients
}

AuthGuard::Slot::~Slot() { guard_->release(address_); }

std::unique_ptr<AuthGuard::Slot> AuthGuard::admit(const std::string& address, Clock::time_point now,
                                                  std::string* why) {
  std::lock_guard lock(mu_);
  auto it = records_.find(address);
  if (it != records_.end() && it->second.blocked_until > now) {
    auto left = std::chrono::ceil<std::chrono::seconds>(it->second.blocked_until - now);
    if (why)
      *why = fmt::format("{} failed authentications from {}: refused for another {} s", it->second.failures,
                         address, left.count());
    return nullptr;
  }
  if (pending_ >= limits_.max_unauthenticated) {
    if (why) *why = fmt::format("{} connections are already authenticating (limit)", pending_);
    return nullptr;
  }
  if (it != records_.end() && it->second.pending >= limits_.max_unauthenticated_per_address) {
    if (why)
      *why = fmt::format("{} connections from {} are already authenticating (limit per address)", it->second.pending,
                         address);
    return nullptr;
  }
  if (records_.size() >= kMaxRecords) prune(now);
  ++records_[address].pending;
  ++pending_;
  return std::unique_ptr<Slot>(new Slot(this, address));
}

void AuthGuard::release(const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = records_.find(address);
  if (it != records_.end() && it->second.pending) --it->second.pending;
  if (pending_) --pending_;
  if (it != records_.end() && it->second.pending == 0 && it->second.failures == 0) records_.erase(it);
}

void AuthGuard::failed(const std::string& address, Clock::time_point now) {
  std::lock_guard lock(mu_);
  Record& r = records_[address];
  if (r.failures && now - r.last_failure > limits_.forget_after) r.failures = 0;
  ++r.failures;
  r.last_failure = now;
  if (r.failures > limits_.free_failures) {
    unsigned doublings = std::min(r.failures - limits_.free_failures - 1, 16u);
    auto wait = std::min<Clock::duration>(std::chrono::seconds(1) * (1u << doublings), limits_.max_backoff);
    r.blocked_until = now + wait;
  }
}

void AuthGuard::succeeded(const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = records_.find(address);
  if (it == records_.end()) return;
  it->second.failures = 0;
  it->second.blocked_until = {};
}

AuthGuard::Clock::duration AuthGuard::backoff_left(const std::string& address, Clock::time_point now) const {
  std::lock_guard lock(mu_);
  auto it = records_.find(address);
  if (it == records_.end() || it->second.blocked_until <= now) return Clock::duration::zero();
  return it->second.blocked_until - now;
}

size_t AuthGuard::unauthenticated() const {
  std::lock_guard lock(mu_);
  return pending_;
}

void AuthGuard::prune(Clock::time_point now) {
  for (auto it = records_.begin(); it != records_.end();) {
    const Record& r = it->second;
    bool stale = r.pending == 0 && r.blocked_until <= now && now - r.last_failure > limits_.forget_after;
    it = stale ? records_.erase(it) : std::next(it);
  }
}

}  // namespace tessera
