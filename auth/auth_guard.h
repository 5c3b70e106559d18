#pragma once
// Limits on connections that have not authenticated yet: how many may be in the link stage at
// once (in all, and from one address), and a growing wait imposed on an address after repeated
// failed authentications. One guard serves every protocol, so SPICE and VNC share one budget of
// guesses per address. Thread-safe; time is passed in so tests need not sleep.
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tessera {

// An address or a network of them ("192.0.2.7", "10.0.0.0/8", "2001:db8::/32", "::1").
struct Network {
  int family = 0;  // AF_INET or AF_INET6
  unsigned char bytes[16]{};
  int prefix = 0;  // leading bits that must match
  // nullopt for anything that is not an address with an optional /prefix in range.
  static std::optional<Network> parse(const std::string& text);
  // `address` as a socket reports it (an IPv4-mapped IPv6 address counts as IPv4; a %scope is
  // ignored); false for what does not parse.
  bool contains(const std::string& address) const;
};

struct AuthLimits {
  size_t max_unauthenticated = 64;            // connections in the link stage, all addresses
  size_t max_unauthenticated_per_address = 8;  // a session opens a few channels at once
  unsigned free_failures = 3;                  // failures before an address must wait
  std::chrono::seconds max_backoff{60};        // 1 s after the first counted failure, doubling
  std::chrono::seconds forget_after{600};      // an address quiet this long starts afresh
  // Off: failures are counted and logged but never make an address wait (--auth-penalty off).
  bool penalties = true;
  // Addresses whose failures never make them wait (--auth-exempt): a tunnel or proxy every viewer
  // comes through. The link-stage limits still apply to them.
  std::vector<Network> exempt;
  // With a limit reached, a pending connection that sent nothing for this long is closed to make
  // room (the one silent longest first): stalled connections cannot lock a real client out.
  std::chrono::milliseconds evict_silent_after{2000};
};

// --auth-penalty: "off", or "FREE,MAX": failures an address has free, and the longest wait in
// seconds (1..3600) the doubling stops at. False (limits untouched) for anything else.
bool apply_auth_penalty(const std::string& spec, AuthLimits& limits);

class AuthGuard {
 public:
  using Clock = std::chrono::steady_clock;
  // Whose credentials a failure or success concerns: a user name a client claimed (user()), or
  // kSharedSecret for the one password of tickets and Plain without SASL (kVncDesPassword for VNC
  // authentication, which checks only 8 of its characters). nullopt: nobody known
  // (a stall, a refused certificate, a broken exchange); such failures no success clears.
  using Identity = std::optional<std::string>;
  static inline const std::string kSharedSecret{};
  static inline const std::string kVncDesPassword{"vnc des"};  // its first 8 characters only
  static Identity user(const std::string& name) { return "user " + name; }
  static constexpr size_t kMaxUsersPerAddress = 32;  // beyond this, failures count as nobody's

  // Held while one connection is in the link stage; releasing it frees the slot.
  class Slot {
   public:
    using SilenceFn = std::function<std::chrono::milliseconds()>;
    ~Slot();
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    const std::string& address() const { return address_; }
    // Makes the connection evictable: `silent` says how long it has sent nothing, `close` ends it
    // from another thread. Both are called under the guard's lock, only until this slot is
    // released: release it before what they refer to goes away.
    void watch(SilenceFn silent, std::function<void()> close);
    // Closed by the guard to make room for another connection.
    bool evicted() const;

   private:
    friend class AuthGuard;
    Slot(AuthGuard* g, std::string a) : guard_(g), address_(std::move(a)) {}
    AuthGuard* guard_;
    std::string address_;
    SilenceFn silent_;
    std::function<void()> close_;
    bool evicted_ = false;  // closed to make room: no longer counted
  };

  explicit AuthGuard(AuthLimits limits = {}) : limits_(limits) {}

  // What limits count by: the address itself, or for IPv6 its /64 (one host usually holds a
  // whole /64, so counting single addresses would let it walk around every limit). A scope
  // suffix (fe80::1%eth0) is kept apart from the address: it names our interface, not the host.
  static std::string key_for(const std::string& address);

  // A slot for a new connection from `address`, or null with the reason in `why`. Where a limit
  // is reached and a watched connection (of that address, for its limit) has been silent for
  // `evict_silent_after`, the one silent longest is closed instead, and `evicted` says which.
  std::unique_ptr<Slot> admit(const std::string& address, Clock::time_point now, std::string* why,
                              std::string* evicted = nullptr);
  // Connections closed to make room so far.
  uint64_t evictions() const;
  void failed(const std::string& address, Clock::time_point now, const Identity& who = std::nullopt);
  // Takes back only `who`'s own failures: a client holding one account cannot wipe the count its
  // guesses at other accounts (or at nobody's) built up.
  void succeeded(const std::string& address, const Identity& who);
  // How long `address` must still wait (zero when it may connect).
  Clock::duration backoff_left(const std::string& address, Clock::time_point now) const;
  // Failures counted against `address` now.
  unsigned failures(const std::string& address) const;
  size_t unauthenticated() const;
  const AuthLimits& limits() const { return limits_; }

 private:
  struct Record {
    unsigned failures = 0;  // all of them: by_user's plus nobody's
    std::map<std::string, unsigned> by_user;
    Clock::time_point last_failure{};
    Clock::time_point blocked_until{};
    size_t pending = 0;
    std::vector<Slot*> slots;  // the pending ones
  };
  void release(Slot* slot);
  // Takes `slot` out of the counts; its record goes if nothing is left in it (unless it is the
  // record of `keep`). Under mu_.
  void forget(Slot* slot, const std::string* keep);
  // Closes the watched slot silent longest among `candidates` (at least evict_silent_after);
  // false when there is none. Under mu_.
  bool evict_one(const std::vector<Slot*>& candidates, const std::string& admitting, std::string* evicted);
  void prune(Clock::time_point now);

  AuthLimits limits_;
  mutable std::mutex mu_;
  std::map<std::string, Record> records_;
  size_t pending_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace tessera
