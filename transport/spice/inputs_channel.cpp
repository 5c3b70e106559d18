#include "transport/spice/inputs_channel.h"

#include "core/log.h"
#include "transport/spice/messages.h"

namespace tessera::spice {

void InputsChannel::on_start() { send(SPICE_MSG_INPUTS_INIT, inputs_init(modifiers_)); }

void InputsChannel::deliver(const InputEvent& e) {
  if (ctx_.input) ctx_.input(e);
}

void InputsChannel::motion_received() {
  if (++motion_count_ % SPICE_INPUT_MOTION_ACK_BUNCH == 0) send(SPICE_MSG_INPUTS_MOUSE_MOTION_ACK, {});
}

void InputsChannel::on_message(uint16_t type, WireReader& body) {
  InputsReader::Result r = reader_.read(type, body);
  if (!r.known) {
    spdlog::debug("{}: ignoring inputs message {}", tag(), type);
    return;
  }
  if (r.modifiers) {
    // We have no lock LEDs of our own: adopt the client's and confirm them.
    modifiers_ = *r.modifiers;
    send(SPICE_MSG_INPUTS_KEY_MODIFIERS, inputs_key_modifiers(modifiers_));
  }
  for (const InputEvent& e : r.events) deliver(e);
  if (r.motion) motion_received();
}

}  // namespace tessera::spice
