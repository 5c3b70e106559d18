#pragma once
// TLS on one accepted connection: the server handshake (bounded by a deadline, so a client
// that stalls mid-handshake cannot hold a slot), then encrypted reads and writes.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "auth/secure_layer.h"
#include "auth/tls_context.h"

namespace tessera {

class TlsLayer : public SecureLayer {
 public:
  // `fd` must be non-blocking and stays owned by the caller. Throws SecureLayerError with the
  // reason (the peer's alert, a refused client certificate, a timeout, a plain-text client).
  static std::unique_ptr<TlsLayer> accept(std::shared_ptr<const TlsContext> ctx, int fd,
                                          std::chrono::steady_clock::time_point deadline);
  ~TlsLayer() override;

  bool pending() const override;
  IoResult read(uint8_t* buf, size_t n) override;
  IoResult write(const uint8_t* buf, size_t n) override;
  std::string describe() const override;  // "TLSv1.3 TLS_AES_256_GCM_SHA384"
  // The cipher's strength, which SASL takes as the external security factor.
  unsigned cipher_bits() const;
  // The verified client certificate's subject, or empty.
  std::string peer_subject() const;

 private:
  TlsLayer(std::shared_ptr<const TlsContext> ctx, SSL* ssl) : ctx_(std::move(ctx)), ssl_(ssl) {}
  IoResult result(int ret, size_t done, bool reading);
  std::shared_ptr<const TlsContext> ctx_;
  SSL* ssl_;
  mutable std::mutex mu_;  // OpenSSL needs one SSL object used by one thread at a time
};

}  // namespace tessera
