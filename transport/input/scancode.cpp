#include "transport/input/scancode.h"

namespace tessera::input {

namespace {

constexpr uint32_t kKeyPause = 119;

// Extended (E0-prefixed) keys; the rest of set 1 up to 0x58 equals the evdev code.
uint32_t extended_to_evdev(uint8_t code) {
  switch (code) {
    case 0x1C: return 96;   // keypad enter
    case 0x1D: return 97;   // right ctrl
    case 0x35: return 98;   // keypad slash
    case 0x37: return 99;   // print screen / sysrq
    case 0x38: return 100;  // right alt
    case 0x47: return 102;  // home
    case 0x48: return 103;  // up
    case 0x49: return 104;  // page up
    case 0x4B: return 105;  // left
    case 0x4D: return 106;  // right
    case 0x4F: return 107;  // end
    case 0x50: return 108;  // down
    case 0x51: return 109;  // page down
    case 0x52: return 110;  // insert
    case 0x53: return 111;  // delete
    case 0x5B: return 125;  // left meta
    case 0x5C: return 126;  // right meta
    case 0x5D: return 127;  // menu
    default: return 0;
  }
}

uint32_t plain_to_evdev(uint8_t code) {
  if (code >= 0x01 && code <= 0x58) return code;
  return 0;
}

}  // namespace

std::vector<KeyStroke> ScancodeDecoder::feed(std::span<const uint8_t> bytes) {
  std::vector<KeyStroke> out;
  for (uint8_t b : bytes) {
    if (pause_) {
      // Pause is E1 1D 45 E1 9D C5: make and break together, reported as a press and release.
      if (++prefix_ == 5) {
        out.push_back({kKeyPause, true});
        out.push_back({kKeyPause, false});
        pause_ = false;
        prefix_ = 0;
      }
      continue;
    }
    if (b == 0xE1) {
      pause_ = true;
      prefix_ = 0;
      continue;
    }
    if (b == 0xE0) {
      prefix_ = 0xE0;
      continue;
    }
    bool release = b & 0x80;
    uint8_t code = b & 0x7F;
    uint32_t ev = prefix_ == 0xE0 ? extended_to_evdev(code) : plain_to_evdev(code);
    prefix_ = 0;
    if (ev) out.push_back({ev, !release});
  }
  return out;
}

std::vector<uint8_t> unpack_key_code(uint32_t code) {
  std::vector<uint8_t> b;
  for (int i = 0; i < 4; ++i) {
    uint8_t v = uint8_t(code >> (8 * i));
    if (!v) break;
    b.push_back(v);
  }
  return b;
}

}  // namespace tessera::input
