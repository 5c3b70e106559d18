#include "transport/spice/inputs_channel.h"

#include "core/log.h"
#include "transport/spice/messages.h"

namespace tessera::spice {

namespace {
// SPICE numbers left, middle, right, wheel up, wheel down 1-5 as we do, but its side and extra
// buttons are 6 and 7, where ours (and X's) are 8 and 9 (6 and 7 scroll horizontally).
uint32_t button_of(uint8_t spice_button) { return spice_button >= 6 ? spice_button + 2u : spice_button; }
uint32_t buttons_of(uint16_t spice_mask) { return (spice_mask & 0x1Fu) | uint32_t(spice_mask & 0x60u) << 2; }
}  // namespace

void InputsChannel::on_start() { send(SPICE_MSG_INPUTS_INIT, inputs_init(modifiers_)); }

void InputsChannel::deliver(const InputEvent& e) {
  if (ctx_.input) ctx_.input(e);
}

void InputsChannel::keys(std::span<const uint8_t> bytes) {
  for (const KeyStroke& k : decoder_.feed(bytes)) {
    InputEvent e;
    e.kind = k.pressed ? InputEvent::Kind::KeyDown : InputEvent::Kind::KeyUp;
    e.key = k.evdev;
    deliver(e);
  }
}

void InputsChannel::motion_received() {
  if (++motion_count_ % SPICE_INPUT_MOTION_ACK_BUNCH == 0) send(SPICE_MSG_INPUTS_MOUSE_MOTION_ACK, {});
}

void InputsChannel::on_message(uint16_t type, WireReader& body) {
  switch (type) {
    case SPICE_MSGC_INPUTS_KEY_DOWN:
    case SPICE_MSGC_INPUTS_KEY_UP: {
      auto bytes = unpack_key_code(body.u32());
      keys(bytes);
      break;
    }
    case SPICE_MSGC_INPUTS_KEY_SCANCODE:
      keys(body.rest());
      break;
    case SPICE_MSGC_INPUTS_KEY_MODIFIERS:
      // We have no lock LEDs of our own: adopt the client's and confirm them.
      modifiers_ = body.u16();
      send(SPICE_MSG_INPUTS_KEY_MODIFIERS, inputs_key_modifiers(modifiers_));
      break;
    case SPICE_MSGC_INPUTS_MOUSE_MOTION: {
      InputEvent e;
      e.kind = InputEvent::Kind::PointerRelative;
      e.x = body.i32();
      e.y = body.i32();
      e.buttons = buttons_ = buttons_of(body.u16());
      deliver(e);
      motion_received();
      break;
    }
    case SPICE_MSGC_INPUTS_MOUSE_POSITION: {
      InputEvent e;
      e.kind = InputEvent::Kind::PointerMove;
      e.x = int32_t(body.u32());
      e.y = int32_t(body.u32());
      e.buttons = buttons_ = buttons_of(body.u16());
      body.u8();  // display id: one display
      deliver(e);
      motion_received();
      break;
    }
    case SPICE_MSGC_INPUTS_MOUSE_PRESS:
    case SPICE_MSGC_INPUTS_MOUSE_RELEASE: {
      InputEvent e;
      e.kind = type == SPICE_MSGC_INPUTS_MOUSE_PRESS ? InputEvent::Kind::ButtonDown : InputEvent::Kind::ButtonUp;
      e.button = button_of(body.u8());
      e.buttons = buttons_ = buttons_of(body.u16());
      deliver(e);
      break;
    }
    default:
      spdlog::debug("{}: ignoring inputs message {}", tag(), type);
  }
}

}  // namespace tessera::spice
