#pragma once
// The RSA key pair behind SPICE ticket authentication: clients encrypt the password with the
// public key (RSA-1024, OAEP with SHA-1 and MGF1-SHA-1, empty label), the server decrypts.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tessera {

class TicketKey {
 public:
  static constexpr size_t kModulusBytes = 128;
  static constexpr size_t kPublicKeyDerBytes = 162;

  // Generates a fresh RSA-1024 key (e = 65537). The server uses one per link (TicketKeyPool).
  static TicketKey generate();
  TicketKey(TicketKey&&) noexcept;
  TicketKey& operator=(TicketKey&&) noexcept;
  ~TicketKey();

  // SubjectPublicKeyInfo in DER, exactly 162 bytes, as the SPICE link reply carries it.
  const std::array<uint8_t, kPublicKeyDerBytes>& public_der() const { return der_; }
  // Decrypts one 128-byte ticket; nullopt when the ciphertext does not decrypt.
  std::optional<std::vector<uint8_t>> decrypt(std::span<const uint8_t> ciphertext) const;
  // What a client does: encrypt with the public key (used by tests and the test client).
  static std::vector<uint8_t> encrypt_for(std::span<const uint8_t> public_der, std::span<const uint8_t> plain);

 private:
  struct Impl;
  explicit TicketKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::array<uint8_t, kPublicKeyDerBytes> der_{};
};

}  // namespace tessera
