#include "transport/spice/sasl_link.h"

#include <spice/enums.h>

#include <fmt/format.h>

#include "core/log.h"
#include "transport/spice/wire.h"

namespace tessera::spice {

namespace {
uint32_t read_u32(Socket& s, Deadline d, const char* what) {
  uint8_t b[4];
  s.read_exact(b, 4, time_left(d), what);
  return WireReader(b, what).u32();
}
}  // namespace

std::string read_sasl_mechname(Socket& s, Deadline d) {
  uint32_t len = read_u32(s, d, "SASL mechanism name length");
  if (len == 0 || len > kSaslMaxMechNameBytes)
    throw ProtocolError(fmt::format("SASL mechanism name of {} bytes (must be 1..{})", len, kSaslMaxMechNameBytes));
  std::string name(len, '\0');
  s.read_exact(name.data(), len, time_left(d), "SASL mechanism name");
  for (char c : name)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      throw ProtocolError("SASL mechanism name holds a character outside A-Z, 0-9, '-', '_'");
  return name;
}

std::optional<std::string> read_sasl_data(Socket& s, Deadline d, const char* what) {
  uint32_t len = read_u32(s, d, what);
  if (len == 0) return std::nullopt;
  if (len > kSaslMaxDataBytes)
    throw ProtocolError(fmt::format("{} of {} bytes (limit {})", what, len, kSaslMaxDataBytes));
  std::string data(len, '\0');
  s.read_exact(data.data(), len, time_left(d), what);
  data.pop_back();
  return data;
}

std::vector<uint8_t> encode_sasl_data(const std::optional<std::string>& data) {
  WireWriter w;
  if (!data) return w.u32(0).take();
  w.u32(uint32_t(data->size() + 1));
  w.bytes(std::span(reinterpret_cast<const uint8_t*>(data->data()), data->size()));
  w.u8(0);
  return w.take();
}

SaslOutcome run_sasl_exchange(Socket& socket, SaslAuth& sasl, Deadline deadline) {
  std::string list;
  for (const auto& m : sasl.mechanisms()) list += "," + m;
  if (!list.empty()) list += ",";
  spdlog::debug("spice {}: SASL mechanisms offered: {}", socket.peer(), list.empty() ? "none" : list.substr(1, list.size() - 2));
  if (sasl.mechanisms().empty())
    throw AuthFailure(socket.layer() ? "no SASL mechanism is configured (mech_list)"
                                     : "no configured SASL mechanism gives a security layer, which a connection "
                                       "without TLS needs (use DIGEST-MD5 or GSSAPI, or TLS)");
  WireWriter hello;
  hello.u32(uint32_t(list.size()));
  hello.bytes(std::span(reinterpret_cast<const uint8_t*>(list.data()), list.size()));
  socket.write_all(hello.take());

  std::string mech = read_sasl_mechname(socket, deadline);
  auto in = read_sasl_data(socket, deadline, "SASL start data");
  SaslAuth::Step st;
  try {
    auto backend = [&](auto call) {
      Socket::Busy busy(socket);  // the client waits on Cyrus's backend, not we on it
      return call();
    };
    st = backend([&] { return sasl.start(mech, in); });
    for (;;) {
      WireWriter reply;
      auto out = encode_sasl_data(st.out);
      reply.bytes(out).u8(st.done ? 1 : 0);
      socket.write_all(reply.take());
      if (st.done) break;
      in = read_sasl_data(socket, deadline, "SASL step data");
      st = backend([&] { return sasl.step(in); });
    }
    sasl.check_strength();
  } catch (const SaslError& e) {
    // Closing is the answer: spice-gtk reports any break in the exchange as failed authentication.
    throw AuthFailure(e.what());
  }
  // Accepted: said in clear, as the client reads it before turning its layer on.
  socket.write_all(WireWriter().u32(SPICE_LINK_ERR_OK).take());
  SaslOutcome outcome{sasl.mechanism(), sasl.username(), sasl.claimed_user(), sasl.ssf()};
  if (auto layer = sasl.make_layer(socket.fd())) socket.set_layer(std::move(layer));
  return outcome;
}

}  // namespace tessera::spice
