#include "transport/spice/inputs_reader.h"

#include <spice/enums.h>
#include <spice/protocol.h>

namespace tessera::spice {

namespace {
// SPICE numbers left, middle, right, wheel up, wheel down 1-5 as we do, but its side and extra
// buttons are 6 and 7, where ours (and X's) are 8 and 9 (6 and 7 scroll horizontally).
uint32_t button_of(uint8_t spice_button) { return spice_button >= 6 ? spice_button + 2u : spice_button; }
uint32_t buttons_of(uint16_t spice_mask) { return (spice_mask & 0x1Fu) | uint32_t(spice_mask & 0x60u) << 2; }
}  // namespace

void InputsReader::keys(std::span<const uint8_t> bytes, Result& out) {
  for (const input::KeyStroke& k : decoder_.feed(bytes)) {
    InputEvent e;
    e.kind = k.pressed ? InputEvent::Kind::KeyDown : InputEvent::Kind::KeyUp;
    e.key = k.evdev;
    out.events.push_back(e);
  }
}

InputsReader::Result InputsReader::read(uint16_t type, WireReader& body) {
  Result out;
  switch (type) {
    case SPICE_MSGC_INPUTS_KEY_DOWN:
    case SPICE_MSGC_INPUTS_KEY_UP: {
      auto bytes = input::unpack_key_code(body.u32());
      keys(bytes, out);
      break;
    }
    case SPICE_MSGC_INPUTS_KEY_SCANCODE:
      keys(body.rest(), out);
      break;
    case SPICE_MSGC_INPUTS_KEY_MODIFIERS:
      out.modifiers = body.u16();
      break;
    case SPICE_MSGC_INPUTS_MOUSE_MOTION: {
      InputEvent e;
      e.kind = InputEvent::Kind::PointerRelative;
      e.x = body.i32();
      e.y = body.i32();
      e.buttons = buttons_ = buttons_of(body.u16());
      out.events.push_back(e);
      out.motion = true;
      break;
    }
    case SPICE_MSGC_INPUTS_MOUSE_POSITION: {
      InputEvent e;
      e.kind = InputEvent::Kind::PointerMove;
      e.x = int32_t(body.u32());
      e.y = int32_t(body.u32());
      e.buttons = buttons_ = buttons_of(body.u16());
      body.u8();  // display id: one display
      out.events.push_back(e);
      out.motion = true;
      break;
    }
    case SPICE_MSGC_INPUTS_MOUSE_PRESS:
    case SPICE_MSGC_INPUTS_MOUSE_RELEASE: {
      InputEvent e;
      e.kind = type == SPICE_MSGC_INPUTS_MOUSE_PRESS ? InputEvent::Kind::ButtonDown : InputEvent::Kind::ButtonUp;
      e.button = button_of(body.u8());
      e.buttons = buttons_ = buttons_of(body.u16());
      out.events.push_back(e);
      break;
    }
    default:
      out.known = false;
  }
  return out;
}

}  // namespace tessera::spice
