#pragma once
// Input from a viewer, in protocol-neutral terms: keys as Linux evdev key codes, pointer
// positions in frame pixels, buttons as a mask (bit 0 left, 1 middle, 2 right, 3 wheel up,
// 4 wheel down).
#include <cstdint>
#include <functional>

namespace tessera {

struct InputEvent {
  enum class Kind { KeyDown, KeyUp, PointerMove, PointerRelative, ButtonDown, ButtonUp };
  Kind kind = Kind::PointerMove;
  uint32_t key = 0;      // evdev code, for key events
  int32_t x = 0;         // absolute position, or delta for PointerRelative
  int32_t y = 0;
  uint32_t button = 0;   // 1 left, 2 middle, 3 right, 4 wheel up, 5 wheel down, ...
  uint32_t buttons = 0;  // mask of buttons held after the event
};

using InputSink = std::function<void(const InputEvent&)>;

}  // namespace tessera
