#include "auth/ticket_key.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace tessera {

namespace {

std::string openssl_error(const char* what) {
  unsigned long e = ERR_get_error();
  char buf[256] = {};
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return std::string(what) + (e ? std::string(": ") + buf : std::string());
}

using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;

bool set_oaep_sha1(EVP_PKEY_CTX* ctx) {
  return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
         EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) > 0 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1()) > 0;
}

}  // namespace

struct TicketKey::Impl {
  EVP_PKEY* key = nullptr;
  ~Impl() { EVP_PKEY_free(key); }
};

TicketKey::TicketKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(impl_->key, &der);
  if (len != int(kPublicKeyDerBytes)) {
    OPENSSL_free(der);
    throw std::runtime_error("ticket key: public key DER is not 162 bytes");
  }
  std::copy(der, der + len, der_.begin());
  OPENSSL_free(der);
}

TicketKey::TicketKey(TicketKey&&) noexcept = default;
TicketKey& TicketKey::operator=(TicketKey&&) noexcept = default;
TicketKey::~TicketKey() = default;

TicketKey TicketKey::generate() {
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nullptr), EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), int(kModulusBytes * 8)) <= 0)
    throw std::runtime_error(openssl_error("ticket key: keygen setup failed"));
  auto impl = std::make_unique<Impl>();
  if (EVP_PKEY_keygen(ctx.get(), &impl->key) <= 0)
    throw std::runtime_error(openssl_error("ticket key: RSA-1024 generation failed"));
  return TicketKey(std::move(impl));
}

std::optional<std::vector<uint8_t>> TicketKey::decrypt(std::span<const uint8_t> ciphertext) const {
  if (ciphertext.size() != kModulusBytes) return std::nullopt;
  PkeyCtx ctx(EVP_PKEY_CTX_new(impl_->key, nullptr), EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) <= 0 || !set_oaep_sha1(ctx.get())) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::vector<uint8_t> out(kModulusBytes);
  size_t len = out.size();
  if (EVP_PKEY_decrypt(ctx.get(), out.data(), &len, ciphertext.data(), ciphertext.size()) <= 0) {
    ERR_clear_error();
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

std::vector<uint8_t> TicketKey::encrypt_for(std::span<const uint8_t> public_der, std::span<const uint8_t> plain) {
  const unsigned char* p = public_der.data();
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(d2i_PUBKEY(nullptr, &p, long(public_der.size())),
                                                          EVP_PKEY_free);
  if (!key) throw std::runtime_error(openssl_error("ticket key: bad public key"));
  PkeyCtx ctx(EVP_PKEY_CTX_new(key.get(), nullptr), EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) <= 0 || !set_oaep_sha1(ctx.get()))
    throw std::runtime_error(openssl_error("ticket key: encrypt setup failed"));
  size_t len = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &len, plain.data(), plain.size()) <= 0)
    throw std::runtime_error(openssl_error("ticket key: encrypt failed"));
  std::vector<uint8_t> out(len);
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &len, plain.data(), plain.size()) <= 0)
    throw std::runtime_error(openssl_error("ticket key: encrypt failed"));
  out.resize(len);
  return out;
}

}  // namespace tessera
