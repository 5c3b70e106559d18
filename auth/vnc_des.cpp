#include "auth/vnc_des.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <mutex>
#include <stdexcept>

namespace tessera {

namespace {

OSSL_LIB_CTX* legacy_ctx() {
  static OSSL_LIB_CTX* ctx = [] {
    OSSL_LIB_CTX* c = OSSL_LIB_CTX_new();
    if (!c || !OSSL_PROVIDER_load(c, "legacy") || !OSSL_PROVIDER_load(c, "default"))
      throw std::runtime_error("VNC authentication needs OpenSSL's legacy provider (DES), which did not load");
    return c;
  }();
  return ctx;
}

uint8_t reverse_bits(uint8_t b) {
  uint8_t r = 0;
  for (int i = 0; i < 8; ++i)
    if (b & (1 << i)) r = uint8_t(r | (0x80 >> i));
  return r;
}

}  // namespace

VncChallenge vnc_random_challenge() {
  VncChallenge c{};
  if (RAND_bytes(c.data(), int(c.size())) != 1) throw std::runtime_error("no random bytes for a VNC challenge");
  return c;
}

VncChallenge vnc_auth_response(const std::string& password, const VncChallenge& challenge) {
  uint8_t key[8] = {};
  for (size_t i = 0; i < 8 && i < password.size(); ++i) key[i] = reverse_bits(uint8_t(password[i]));
  EVP_CIPHER* des = EVP_CIPHER_fetch(legacy_ctx(), "DES-ECB", nullptr);
  if (!des) throw std::runtime_error("DES-ECB is not available from OpenSSL's legacy provider");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  VncChallenge out{};
  int len = 0, fin = 0;
  bool ok = ctx && EVP_EncryptInit_ex2(ctx, des, key, nullptr, nullptr) == 1 && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
            EVP_EncryptUpdate(ctx, out.data(), &len, challenge.data(), int(challenge.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx, out.data() + len, &fin) == 1;
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(des);
  OPENSSL_cleanse(key, sizeof key);
  if (!ok) throw std::runtime_error("DES encryption failed");
  return out;
}

bool vnc_auth_check(const std::string& password, const VncChallenge& challenge, const VncChallenge& response) {
  VncChallenge want = vnc_auth_response(password, challenge);
  bool same = CRYPTO_memcmp(want.data(), response.data(), want.size()) == 0;
  OPENSSL_cleanse(want.data(), want.size());
  return same;
}

}  // namespace tessera
