#include "auth/ticket_policy.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "core/log.h"

namespace tessera {

TicketPolicy TicketPolicy::disabled() { return TicketPolicy(); }

TicketPolicy TicketPolicy::with_password(std::string password, std::optional<std::chrono::seconds> lifetime) {
  if (password.size() > kMaxPasswordLength)
    throw std::invalid_argument("password longer than 60 characters: SPICE clients cannot send it");
  TicketPolicy p;
  p.enabled_ = true;
  p.password_ = std::move(password);
  if (lifetime) p.expires_ = std::chrono::steady_clock::now() + *lifetime;
  return p;
}

TicketPolicy::~TicketPolicy() {
  if (!password_.empty()) OPENSSL_cleanse(password_.data(), password_.size());
}

TicketPolicy::Verdict TicketPolicy::check(const TicketKey& key, std::span<const uint8_t> ciphertext) const {
  if (!enabled_) return Verdict::Accepted;
  auto plain = key.decrypt(ciphertext);
  if (!plain) return Verdict::Undecryptable;
  // The client sends the password with its terminating NUL; compare up to the first NUL, over
  // a fixed-size buffer so that the time taken does not depend on where the strings differ.
  size_t len = size_t(std::find(plain->begin(), plain->end(), uint8_t{0}) - plain->begin());
  std::array<uint8_t, TicketKey::kModulusBytes> got{}, want{};
  std::memcpy(got.data(), plain->data(), len);
  std::memcpy(want.data(), password_.data(), password_.size());
  bool same = CRYPTO_memcmp(got.data(), want.data(), got.size()) == 0;
  same = same && len == password_.size();
  OPENSSL_cleanse(plain->data(), plain->size());
  OPENSSL_cleanse(got.data(), got.size());
  OPENSSL_cleanse(want.data(), want.size());
  if (!same) return Verdict::WrongPassword;
  if (expires_ && std::chrono::steady_clock::now() >= *expires_) return Verdict::Expired;
  return Verdict::Accepted;
}

const char* TicketPolicy::describe(Verdict v) {
  switch (v) {
    case Verdict::Accepted: return "accepted";
    case Verdict::WrongPassword: return "wrong password";
    case Verdict::Expired: return "ticket expired";
    case Verdict::Undecryptable: return "ticket does not decrypt (not RSA-OAEP for our key)";
  }
  return "unknown";
}

std::string read_password_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open password file " + path + ": " + std::strerror(errno));
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) throw std::runtime_error("password file " + path + " is empty");
  if (line.size() > TicketPolicy::kMaxPasswordLength)
    throw std::runtime_error("password in " + path + " is longer than 60 characters, which SPICE clients cannot send");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
    spdlog::warn("password file {} can be read by other users; chmod 600 it", path);
  return line;
}

}  // namespace tessera
