#pragma once
// PC/XT scan code set 1, as SPICE clients (and VNC clients with QEMU extended key events) send
// keys, turned into Linux evdev key codes.
#include <cstdint>
#include <span>
#include <vector>

namespace tessera::input {

struct KeyStroke {
  uint32_t evdev = 0;
  bool pressed = false;
};

// Decodes a byte stream of set-1 codes (E0 and E1 prefixes included). Unknown codes are skipped.
class ScancodeDecoder {
 public:
  std::vector<KeyStroke> feed(std::span<const uint8_t> bytes);

 private:
  int prefix_ = 0;  // 0, 0xE0, or the count of Pause bytes still expected after E1
  bool pause_ = false;
};

// KEY_DOWN / KEY_UP carry the bytes packed little-endian, ending at the first zero byte.
std::vector<uint8_t> unpack_key_code(uint32_t code);

}  // namespace tessera::input
