#include "transport/spice/sasl_link.h"

#include <spice/enums.h>

#include <fmt/format.h>

#include "core/log.h"
#include "transport/spice/wire.h"

namespace tessera::spice {

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
