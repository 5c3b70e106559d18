#include "auth/auth_guard.h"

#include <arpa/inet.h>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <vector>

namespace tessera {

namespace {
constexpr size_t kMaxRecords = 10000;  // bounds the table against address-spraying clients
}

std::optional<Network> Network::parse(const std::string& text) {
  std::string address = text;
  int prefix = -1;
  if (size_t slash = text.find('/'); slash != std::string::npos) {
    address = text.substr(0, slash);
    const std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), ::isdigit)) return std::nullopt;
    prefix = std::stoi(bits);
  }
  Network n;
  if (inet_pton(AF_INET, address.c_str(), n.bytes) == 1) {
    n.family = AF_INET;
  } else if (inet_pton(AF_INET6, address.c_str(), n.bytes) == 1) {
    n.family = AF_INET6;
  } else {
    return std::nullopt;
  }
  const int max = n.family == AF_INET ? 32 : 128;
  if (prefix > max) return std::nullopt;
  n.prefix = prefix < 0 ? max : prefix;
  return n;
}

bool Network::contains(const std::string& peer) const {
  std::string address = peer.substr(0, peer.find('%'));
  unsigned char b[16]{};
  int fam = 0;
  if (inet_pton(AF_INET, address.c_str(), b) == 1) {
    fam = AF_INET;
  } else if (inet_pton(AF_INET6, address.c_str(), b) == 1) {
    fam = AF_INET6;
    in6_addr a6;
    std::memcpy(&a6, b, 16);
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      std::memmove(b, b + 12, 4);
      fam = AF_INET;
    }
  } else {
    return false;
  }
  if (fam != family) return false;
  const int whole = prefix / 8, rest = prefix % 8;
  if (std::memcmp(b, bytes, size_t(whole)) != 0) return false;
  if (rest == 0) return true;
  const unsigned char mask = static_cast<unsigned char>(0xFF << (8 - rest));
  return (b[whole] & mask) == (bytes[whole] & mask);
}

bool apply_auth_penalty(const std::string& spec, AuthLimits& limits) {
  if (spec == "off") {
    limits.penalties = false;
    return true;
  }
  unsigned free = 0, max = 0;
  char tail = 0;
  if (spec.empty() || !std::isdigit(static_cast<unsigned char>(spec[0])) ||
      std::sscanf(spec.c_str(), "%u,%u%c", &free, &max, &tail) != 2 || free > 1000 || max < 1 || max > 3600)
    return false;
  limits.penalties = true;
  limits.free_failures = free;
  limits.max_backoff = std::chrono::seconds(max);
  return true;
}

std::string AuthGuard::key_for(const std::string& peer) {
  std::string address = peer, scope;
  if (size_t pct = peer.find('%'); pct != std::string::npos) {
    address = peer.substr(0, pct);
    scope = peer.substr(pct);
  }
  in6_addr a6{};
  if (address.find(':') == std::string::npos || inet_pton(AF_INET6, address.c_str(), &a6) != 1) return peer;
  if (IN6_IS_ADDR_V4MAPPED(&a6)) return address;
  std::memset(a6.s6_addr + 8, 0, 8);
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &a6, buf, sizeof buf);
  return std::string(buf) + "/64" + scope;
}

AuthGuard::Slot::~Slot() { guard_->release(this); }

void AuthGuard::Slot::watch(SilenceFn silent, std::function<void()> close) {
  std::lock_guard lock(guard_->mu_);
  silent_ = std::move(silent);
  close_ = std::move(close);
}

bool AuthGuard::Slot::evicted() const {
  std::lock_guard lock(guard_->mu_);
  return evicted_;
}

bool AuthGuard::evict_one(const std::vector<Slot*>& candidates, const std::string& admitting, std::string* evicted) {
  Slot* stalest = nullptr;
  std::chrono::milliseconds longest{-1};
  for (Slot* s : candidates) {
    if (!s->silent_ || !s->close_) continue;
    auto quiet = s->silent_();
    if (quiet >= limits_.evict_silent_after && quiet > longest) stalest = s, longest = quiet;
  }
  if (!stalest) return false;
  stalest->evicted_ = true;
  // Another address's record with nothing left to count goes; admit still holds its own.
  forget(stalest, &admitting);
  ++evictions_;
  stalest->close_();
  if (evicted)
    *evicted = fmt::format("closed a link-stage connection from {} that sent nothing for {} ms, to make room",
                           stalest->address_, longest.count());
  return true;
}

std::unique_ptr<AuthGuard::Slot> AuthGuard::admit(const std::string& peer, Clock::time_point now, std::string* why,
                                                  std::string* evicted) {
  const std::string address = key_for(peer);
  std::lock_guard lock(mu_);
  auto it = records_.find(address);
  if (it != records_.end() && it->second.blocked_until > now) {
    auto left = std::chrono::ceil<std::chrono::seconds>(it->second.blocked_until - now);
    if (why)
      *why = fmt::format("{} failed authentications from {}: refused for another {} s", it->second.failures,
                         address, left.count());
    return nullptr;
  }
  if (it != records_.end() && it->second.pending >= limits_.max_unauthenticated_per_address &&
      !evict_one(it->second.slots, address, evicted)) {
    if (why)
      *why = fmt::format("{} connections from {} are already authenticating (limit per address)", it->second.pending,
                         address);
    return nullptr;
  }
  if (pending_ >= limits_.max_unauthenticated) {
    std::vector<Slot*> all;
    for (auto& [k, r] : records_) all.insert(all.end(), r.slots.begin(), r.slots.end());
    if (!evict_one(all, address, evicted)) {
      if (why) *why = fmt::format("{} connections are already authenticating (limit)", pending_);
      return nullptr;
    }
  }
  if (records_.size() >= kMaxRecords && !records_.count(address)) prune(now);
  Record& r = records_[address];
  auto slot = std::unique_ptr<Slot>(new Slot(this, address));
  r.slots.push_back(slot.get());
  ++r.pending;
  ++pending_;
  return slot;
}

uint64_t AuthGuard::evictions() const {
  std::lock_guard lock(mu_);
  return evictions_;
}

void AuthGuard::forget(Slot* slot, const std::string* keep) {
  auto it = records_.find(slot->address_);
  if (it != records_.end()) {
    std::erase(it->second.slots, slot);
    if (it->second.pending) --it->second.pending;
  }
  if (pending_) --pending_;
  if (it != records_.end() && it->second.pending == 0 && it->second.failures == 0 && !(keep && it->first == *keep))
    records_.erase(it);
}

void AuthGuard::release(Slot* slot) {
  std::lock_guard lock(mu_);
  if (slot->evicted_) return;  // already taken out of the counts
  forget(slot, nullptr);
}

void AuthGuard::failed(const std::string& peer, Clock::time_point now, const Identity& who) {
  const std::string address = key_for(peer);
  std::lock_guard lock(mu_);
  if (records_.size() >= kMaxRecords && !records_.count(address)) prune(now);
  Record& r = records_[address];
  if (r.failures && now - r.last_failure > limits_.forget_after) {
    r.failures = 0;
    r.by_user.clear();
  }
  ++r.failures;
  if (who && (r.by_user.count(*who) || r.by_user.size() < kMaxUsersPerAddress)) ++r.by_user[*who];
  r.last_failure = now;
  const bool exempt = std::any_of(limits_.exempt.begin(), limits_.exempt.end(),
                                  [&](const Network& n) { return n.contains(peer); });
  if (limits_.penalties && !exempt && r.failures > limits_.free_failures) {
    unsigned doublings = std::min(r.failures - limits_.free_failures - 1, 16u);
    auto wait = std::min<Clock::duration>(std::chrono::seconds(1) * (1u << doublings), limits_.max_backoff);
    r.blocked_until = now + wait;
  }
}

void AuthGuard::succeeded(const std::string& peer, const Identity& who) {
  if (!who) return;
  std::lock_guard lock(mu_);
  auto it = records_.find(key_for(peer));
  if (it == records_.end()) return;
  Record& r = it->second;
  auto own = r.by_user.find(*who);
  if (own == r.by_user.end()) return;
  r.failures -= std::min(r.failures, own->second);
  r.by_user.erase(own);
  // A wait the remaining failures still earn stays; it is not lengthened either.
  if (r.failures <= limits_.free_failures) r.blocked_until = {};
}

AuthGuard::Clock::duration AuthGuard::backoff_left(const std::string& peer, Clock::time_point now) const {
  std::lock_guard lock(mu_);
  auto it = records_.find(key_for(peer));
  if (it == records_.end() || it->second.blocked_until <= now) return Clock::duration::zero();
  return it->second.blocked_until - now;
}

unsigned AuthGuard::failures(const std::string& peer) const {
  std::lock_guard lock(mu_);
  auto it = records_.find(key_for(peer));
  return it == records_.end() ? 0 : it->second.failures;
}

size_t AuthGuard::unauthenticated() const {
  std::lock_guard lock(mu_);
  return pending_;
}

void AuthGuard::prune(Clock::time_point now) {
  // First what is stale, then, if the table is still more than half full, failure counts that
  // impose no wait yet, then the waits that end soonest: the table never outgrows kMaxRecords.
  auto sweep = [&](auto drop) {
    for (auto it = records_.begin(); it != records_.end();)
      it = it->second.pending == 0 && drop(it->second) ? records_.erase(it) : std::next(it);
  };
  sweep([&](const Record& r) { return r.blocked_until <= now && now - r.last_failure > limits_.forget_after; });
  if (records_.size() < kMaxRecords / 2) return;
  sweep([&](const Record& r) { return r.blocked_until <= now; });
  if (records_.size() < kMaxRecords / 2) return;
  std::vector<Clock::time_point> ends;
  for (auto& [k, r] : records_)
    if (r.pending == 0) ends.push_back(r.blocked_until);
  if (ends.empty()) return;
  size_t drop = std::min(ends.size(), records_.size() - kMaxRecords / 2);
  std::nth_element(ends.begin(), ends.begin() + long(drop) - 1, ends.end());
  Clock::time_point cut = ends[drop - 1];
  sweep([&](const Record& r) { return r.blocked_until <= cut; });
}

}  // namespace tessera
