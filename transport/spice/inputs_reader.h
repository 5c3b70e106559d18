#pragma once
// What a SPICE inputs channel's client messages say, as input events: a reader over bytes that
// the channel feeds, and tests and the fuzzer feed without a socket. Key messages carry PC scan
// codes (set 1), decoded across messages; pointer buttons are renumbered to ours.
#include <cstdint>
#include <optional>
#include <vector>

#include "core/input_event.h"
#include "transport/input/scancode.h"
#include "transport/spice/wire.h"

namespace tessera::spice {

class InputsReader {
 public:
  struct Result {
    std::vector<InputEvent> events;
    bool motion = false;                // a motion message: counts toward the MOTION_ACK bunch
    std::optional<uint16_t> modifiers;  // KEY_MODIFIERS: the client's lock state, to confirm
    bool known = true;                  // false: a message type the inputs channel does not have
  };
  // Throws ProtocolError when the body is shorter than the message needs.
  Result read(uint16_t type, WireReader& body);

 private:
  void keys(std::span<const uint8_t> bytes, Result& out);
  input::ScancodeDecoder decoder_;
  uint32_t buttons_ = 0;
};

}  // namespace tessera::spice
