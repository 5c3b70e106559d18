#include "transport/net/sasl_framing.h"

#include <fmt/format.h>

namespace tessera::net {

namespace {
uint32_t read_u32(Socket& s, Deadline d, const char* what, ByteOrder order) {
  uint8_t b[4];
  s.read_exact(b, 4, time_left(d), what);
  return order == ByteOrder::Big ? uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3]
                                 : uint32_t(b[3]) << 24 | uint32_t(b[2]) << 16 | uint32_t(b[1]) << 8 | b[0];
}

void put_u32(std::vector<uint8_t>& out, uint32_t v, ByteOrder order) {
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (order == ByteOrder::Big ? 24 - 8 * i : 8 * i)));
}
}  // namespace

std::string read_sasl_mechname(Socket& s, Deadline d, ByteOrder order) {
  uint32_t len = read_u32(s, d, "SASL mechanism name length", order);
  if (len == 0 || len > kSaslMaxMechNameBytes)
    throw ProtocolError(fmt::format("SASL mechanism name of {} bytes (must be 1..{})", len, kSaslMaxMechNameBytes));
  std::string name(len, '\0');
  s.read_exact(name.data(), len, time_left(d), "SASL mechanism name");
  for (char c : name)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      throw ProtocolError("SASL mechanism name holds a character outside A-Z, 0-9, '-', '_'");
  return name;
}

std::optional<std::string> read_sasl_data(Socket& s, Deadline d, const char* what, ByteOrder order) {
  uint32_t len = read_u32(s, d, what, order);
  if (len == 0) return std::nullopt;
  if (len > kSaslMaxDataBytes) throw ProtocolError(fmt::format("{} of {} bytes (limit {})", what, len, kSaslMaxDataBytes));
  std::string data(len, '\0');
  s.read_exact(data.data(), len, time_left(d), what);
  data.pop_back();
  return data;
}

std::vector<uint8_t> encode_sasl_data(const std::optional<std::string>& data, ByteOrder order) {
  std::vector<uint8_t> out;
  if (!data) {
    put_u32(out, 0, order);
    return out;
  }
  put_u32(out, uint32_t(data->size() + 1), order);
  out.insert(out.end(), data->begin(), data->end());
  out.push_back(0);
  return out;
}

}  // namespace tessera::net
