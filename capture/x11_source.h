#pragma once
// An X display as a frame source: the root window read through MIT-SHM (XGetImage where shared
// memory is not available, e.g. a remote display), XDamage reports as hints for the damage
// tracker (nothing is read while the screen is quiet), XFixes for the cursor image, RandR for
// size changes (a new frame size, so clients get a new surface), and XTest to inject viewers'
// keys and pointer. Damage events wake the capture loop, so a change is read as soon as it
// happens rather than at the next tick. Keys arrive as evdev codes: X keycode = evdev + 8, as X servers using the
// evdev keycode set (Xorg, Xvfb) number them.
#include <memory>
#include <string>

#include "capture/frame_source.h"

namespace tessera {

class X11Source : public FrameSource {
 public:
  // `display` as for XOpenDisplay (":99"; empty: $DISPLAY). Throws std::runtime_error when the
  // display cannot be opened or lacks what we need (XDamage, XFixes, XTest, a 24-bit visual).
  explicit X11Source(const std::string& display);
  ~X11Source() override;

  std::string description() const override;
  Size size() const override;
  CapturedFrame capture(uint64_t index) override;
  std::optional<CursorState> cursor(uint64_t index) override;
  void handle_input(const InputEvent& event) override;
  // The X connection: damage events wake the capture loop.
  int change_fd() const override;
  bool change_queued() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera
