#pragma once
// What a protocol connection fails with: the peer broke the protocol, or did not keep time.
#include <stdexcept>

namespace tessera::net {

// The peer sent something wrong or short; the text says what, for the log.
struct ProtocolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The peer did not send what it had to in time (a stalled or slowloris client).
struct TimeoutError : ProtocolError {
  using ProtocolError::ProtocolError;
};

}  // namespace tessera::net
