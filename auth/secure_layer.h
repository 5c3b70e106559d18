#pragma once
// A security layer between a connection's bytes and its protocol: TLS, or a SASL security
// layer. The socket under it is non-blocking; a call that cannot progress says which way the
// socket must become ready before it is called again. Calls may come from a reading thread and
// a writing thread at once: implementations serialise what their library needs serialised.
#include <cstddef>
#include <sys/types.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace tessera {

enum class IoWait { None, Read, Write };

struct IoResult {
  size_t bytes = 0;      // bytes read, or bytes of the caller's data consumed
  bool closed = false;   // the peer ended the connection (read only)
  IoWait wait = IoWait::None;
};

// A broken or hostile peer at the security layer (bad record, failed decode).
struct SecureLayerError : std::runtime_error {
  explicit SecureLayerError(const std::string& why, bool counts = false)
      : std::runtime_error(why), counts_as_failure(counts) {}
  // A refused client certificate or a stalled handshake: counts against the peer's address.
  bool counts_as_failure;
};

class SecureLayer {
 public:
  virtual ~SecureLayer() = default;
  // Plain bytes already decoded and waiting: poll() on the socket would not see them.
  virtual bool pending() const = 0;
  virtual IoResult read(uint8_t* buf, size_t n) = 0;
  virtual IoResult write(const uint8_t* buf, size_t n) = 0;
  // Pushes out encoded bytes a write() accepted but could not send yet; wait None when done.
  virtual IoWait flush() { return IoWait::None; }
  // For logs: "TLSv1.3 TLS_AES_256_GCM_SHA384", "SASL DIGEST-MD5 layer".
  virtual std::string describe() const = 0;
};

// Where the socket must wait for a would-block result of recv()/send() on a non-blocking fd.
IoResult io_result_from_errno(ssize_t r, bool reading);

}  // namespace tessera
