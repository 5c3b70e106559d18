#pragma once
// SplitMix64's finaliser: a fast, well-mixed hash of an integer. The synthetic desktops use it
// so that every "random" choice (words, line lengths, noise) is a pure function of its input.
#include <cstdint>

namespace tessera {

constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace tessera
