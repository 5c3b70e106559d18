#include "transport/input/keysym.h"

#include <cstring>

#include "transport/input/scancode.h"

namespace tessera::input {

namespace {
// Printable ASCII 0x20..0x7E on a US keyboard.
constexpr uint8_t kAscii[95] = {
    57, 2,  40, 4,  5,  6,  8,  40, 10, 11, 9,  13, 51, 12, 52, 53,  // space ! " # $ % & ' ( ) * + , - . /
    11, 2,  3,  4,  5,  6,  7,  8,  9,  10,                          // 0-9
    39, 39, 51, 13, 52, 53, 3,                                        // : ; < = > ? @
    30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44,  // A-Z
    26, 43, 27, 7,  12, 41,                                           // [ \ ] ^ _ `
    30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44,  // a-z
    26, 43, 27, 41};                                                  // { | } ~
}  // namespace

uint32_t keysym_to_evdev(uint32_t k) {
  if (k >= 0x20 && k <= 0x7E) return kAscii[k - 0x20];
  if (k >= 0xFFBE && k <= 0xFFC7) return 59 + (k - 0xFFBE);  // F1-F10
  switch (k) {
    case 0xFFC8: return 87;   // F11
    case 0xFFC9: return 88;   // F12
    case 0xFF08: return 14;   // BackSpace
    case 0xFF09: return 15;   // Tab
    case 0xFE20: return 15;   // ISO_Left_Tab (shifted Tab)
    case 0xFF0D: return 28;   // Return
    case 0xFF1B: return 1;    // Escape
    case 0xFFFF: return 111;  // Delete
    case 0xFF50: return 102;  // Home
    case 0xFF51: return 105;  // Left
    case 0xFF52: return 103;  // Up
    case 0xFF53: return 106;  // Right
    case 0xFF54: return 108;  // Down
    case 0xFF55: return 104;  // Page Up
    case 0xFF56: return 109;  // Page Down
    case 0xFF57: return 107;  // End
    case 0xFF63: return 110;  // Insert
    case 0xFFE1: return 42;   // Shift_L
    case 0xFFE2: return 54;   // Shift_R
    case 0xFFE3: return 29;   // Control_L
    case 0xFFE4: return 97;   // Control_R
    case 0xFFE5: return 58;   // Caps_Lock
    case 0xFFE9: return 56;   // Alt_L
    case 0xFFEA: return 100;  // Alt_R
    case 0xFE03: return 100;  // ISO_Level3_Shift (AltGr)
    case 0xFFEB: return 125;  // Super_L
    case 0xFFEC: return 126;  // Super_R
    case 0xFF67: return 127;  // Menu
    case 0xFF7F: return 69;   // Num_Lock
    case 0xFF14: return 70;   // Scroll_Lock
    case 0xFF61: return 99;   // Print
    case 0xFF13: return 119;  // Pause
    default: return 0;
  }
}

uint32_t xt_to_evdev(uint32_t xt) {
  ScancodeDecoder d;
  uint8_t bytes[2];
  size_t n = 0;
  if (xt & 0x80) bytes[n++] = 0xE0;
  bytes[n++] = uint8_t(xt & 0x7F);
  auto strokes = d.feed(std::span<const uint8_t>(bytes, n));
  return strokes.empty() ? 0 : strokes.front().evdev;
}

}  // namespace tessera::input
