#pragma once
// X11 keysyms, as VNC clients send keys, turned into Linux evdev key codes on a US layout.
// Shifted symbols map to their key (the client sends Shift itself); keysyms without a key on a
// US keyboard give 0 and are dropped.
#include <cstdint>

namespace tessera::input {

uint32_t keysym_to_evdev(uint32_t keysym);
// QEMU's extended key event carries an XT code: < 0x80 plain, 0x80 bit for an E0-prefixed key.
uint32_t xt_to_evdev(uint32_t xt);

}  // namespace tessera::input
