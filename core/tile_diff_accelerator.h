#pragma once
// The seam through which the damage tracker runs its tile diff and classifier elsewhere (gpu/
// implements it with Vulkan compute). core/ knows only this interface, so it stays free of any
// GPU API. An implementation must give exactly the answers of diff_tiles over the whole frame
// and of RegionClassifier::update; the tracker falls back to the CPU whenever one throws.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/frame.h"
#include "core/region_classifier.h"
#include "core/tile_diff.h"

namespace tessera {

class TileDiffAccelerator {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~TileDiffAccelerator() = default;

  // Says what runs the work (e.g. "Vulkan: llvmpipe (LLVM 15.0.6, 256 bits)").
  virtual std::string name() const = 0;
  // A new grid (first frame, size change): forgets the reference and every tile's history.
  virtual void reset(const TileGrid& grid, const ClassifierConfig& cfg) = 0;
  // Keeps `f` as the reference for the next diff, without comparing.
  virtual void set_reference(const Frame& f) = 0;
  // Marks (sets to 1, never clears) every tile where `f` differs from the reference, comparing
  // the whole frame; `f` becomes the reference. Needs a reference (set_reference or diff).
  virtual void diff(const Frame& f, std::vector<uint8_t>& changed) = 0;
  // RegionClassifier::update on the implementation's own state; `motion` receives the classes.
  virtual void classify(const std::vector<uint8_t>& changed, Clock::time_point now, std::vector<uint8_t>& motion) = 0;
};

}  // namespace tessera
