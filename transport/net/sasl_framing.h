#pragma once
// The SASL framing SPICE (AUTH_SASL) and RFB (QEMU's SASL type) share, in their byte orders: a
// u32 length, then the bytes. A mechanism name is 1..100 characters of A-Z, 0-9, '-', '_'; data
// counts one closing byte (a NUL, or one byte past a binary GSSAPI token), and length 0 means
// "no data". Every length a client sends is checked before anything is allocated; errors are
// ProtocolError naming the field.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "transport/net/socket.h"

namespace tessera::net {

enum class ByteOrder { Little, Big };  // SPICE, RFB

constexpr size_t kSaslMaxMechNameBytes = 100;    // as spice-gtk, spice-server and QEMU
constexpr size_t kSaslMaxDataBytes = 64 * 1024;  // a Kerberos ticket with a large PAC fits

std::string read_sasl_mechname(Socket& s, Deadline d, ByteOrder order);
// The closing byte is dropped unseen.
std::optional<std::string> read_sasl_data(Socket& s, Deadline d, const char* what, ByteOrder order);
// Server data with its closing NUL (nullopt: length 0).
std::vector<uint8_t> encode_sasl_data(const std::optional<std::string>& data, ByteOrder order);

}  // namespace tessera::net
