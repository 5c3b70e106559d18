#pragma once
// The SPICE SASL exchange (AUTH_SASL) on one connection, with its framing: u32 little-endian
// lengths, data that counts and carries a trailing NUL, length 0 for "no data". Every length a
// client sends is checked before anything is allocated.
#include <chrono>
#include <optional>
#include <string>

#include "auth/sasl_auth.h"
#include "transport/net/sasl_framing.h"
#include "transport/net/socket.h"
#include "transport/spice/wire.h"

namespace tessera::spice {

using net::kSaslMaxDataBytes;
using net::kSaslMaxMechNameBytes;

// Credentials refused, or no usable mechanism: counts against the client's address.
struct AuthFailure : ProtocolError {
  explicit AuthFailure(const std::string& why, std::optional<uint32_t> reply_code = std::nullopt)
      : ProtocolError(why), reply(reply_code) {}
  std::optional<uint32_t> reply;  // the u32 result to send once the failure is recorded
};

using net::Deadline;
using net::Socket;
using net::time_left;

// The framing in SPICE's byte order (transport/net/sasl_framing; public for tests). The byte
// that closes client data is dropped unseen: spice-gtk sends one byte past binary tokens
// (GSSAPI) rather than a NUL, and spice-server ignores it too.
inline std::string read_sasl_mechname(Socket& s, Deadline d) {
  return net::read_sasl_mechname(s, d, net::ByteOrder::Little);
}
inline std::optional<std::string> read_sasl_data(Socket& s, Deadline d, const char* what) {
  return net::read_sasl_data(s, d, what, net::ByteOrder::Little);
}
inline std::vector<uint8_t> encode_sasl_data(const std::optional<std::string>& data) {
  return net::encode_sasl_data(data, net::ByteOrder::Little);
}

// Runs the whole exchange: mechanism list, start, steps, the strength check, and the clear
// "accepted" word. On a connection without TLS it then puts the negotiated security layer on
// `socket`, so the link result that follows is already protected.
struct SaslOutcome {
  std::string mechanism, username;
  std::optional<std::string> authid;  // the authentication id the client gave (what failures count by)
  unsigned ssf = 0;  // the SASL layer's strength (0 over TLS)
};
SaslOutcome run_sasl_exchange(Socket& socket, SaslAuth& sasl, Deadline deadline);

}  // namespace tessera::spice
