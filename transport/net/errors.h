#pragma once
// What a protocol connection fails with: the peer broke the protocol, or did not keep time.
#include <cstddef>
#include <stdexcept>
#include <string>

namespace tessera::net {

// The peer sent something wrong or short; the text says what, for the log.
struct ProtocolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The peer closed the connection; `got` bytes of the read it closed in had arrived (0: it left
// between reads, which is how a client that is done leaves when the read was for a message start).
struct PeerClosedError : ProtocolError {
  PeerClosedError(const std::string& what, size_t got_bytes) : ProtocolError(what), got(got_bytes) {}
  size_t got;
};

// The peer did not send what it had to in time (a stalled or slowloris client).
struct TimeoutError : ProtocolError {
  using ProtocolError::ProtocolError;
};

}  // namespace tessera::net
