// libFuzzer: scan code streams of any shape decode to valid evdev codes only.
#include <cstdint>
#include <span>

#include "transport/input/scancode.h"

using namespace tessera::input;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ScancodeDecoder d;
  // Feed in two pieces, as KEY_SCANCODE messages may split a sequence.
  size_t cut = size ? data[0] % (size + 1) : 0;
  for (auto part : {std::span(data, cut), std::span(data + cut, size - cut)})
    for (const KeyStroke& k : d.feed(part))
      if (k.evdev == 0 || k.evdev > 255) __builtin_trap();
  return 0;
}
