#pragma once
// Decides whether a SPICE ticket opens a channel: the password (from a file, never the command
// line), its expiry, and a constant-time comparison.
#include <chrono>
#include <optional>
#include <span>
#include <string>

#include "auth/ticket_key.h"

namespace tessera {

class TicketPolicy {
 public:
  enum class Verdict { Accepted, WrongPassword, Expired, Undecryptable };
  static constexpr size_t kMaxPasswordLength = 60;  // what spice-gtk will send

  // Ticketing off: every (decryptable or not) ticket is accepted.
  static TicketPolicy disabled();
  // The password is valid from now for `lifetime` (forever when nullopt).
  static TicketPolicy with_password(std::string password, std::optional<std::chrono::seconds> lifetime);

  TicketPolicy(TicketPolicy&&) noexcept = default;
  TicketPolicy& operator=(TicketPolicy&&) noexcept = default;
  ~TicketPolicy();

  bool enabled() const { return enabled_; }
  Verdict check(const TicketKey& key, std::span<const uint8_t> ciphertext) const;
  static const char* describe(Verdict v);

 private:
  TicketPolicy() = default;
  bool enabled_ = false;
  std::string password_;
  std::optional<std::chrono::steady_clock::time_point> expires_;
};

// Reads a password file: the first line, without its line ending. Throws with a reason when
// the file is unreadable, empty, or the password is longer than clients can send.
std::string read_password_file(const std::string& path);

}  // namespace tessera
