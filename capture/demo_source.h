#pragma once
// The built-in demo desktop: wallpaper, a terminal whose text scrolls, a window of moving
// photo-like content (a video stand-in: it plays 8 s, then pauses 2 s) and a moving pointer
// painted into the picture.
// Everything is a pure function of the tick index, and the source can say exactly which
// pixels changed between any two ticks: the ground truth that damage tracking is tested on.
#include <string>

#include "capture/frame_source.h"
#include "core/frame_change.h"

namespace tessera {

class DemoSource : public FrameSource {
 public:
  struct Layout {
    Rect terminal;       // whole window, title bar included
    Rect terminal_text;  // the part whose text scrolls
    Rect video;          // whole window
    Rect video_content;  // the part that changes every tick
  };

  DemoSource(Size size, double fps);

  std::string description() const override;
  Size size() const override { return size_; }
  CapturedFrame capture(uint64_t index) override;
  std::optional<CursorState> cursor(uint64_t index) override;

  // The pixels of tick `index`, independent of any earlier call.
  Frame render(uint64_t index) const;
  // Every pixel that may differ between ticks a and b (exact up to the pointer's box).
  Region damage_between(uint64_t a, uint64_t b) const;
  // Text lines scrolled off the top of the terminal by tick `index`.
  uint64_t scrolled_lines(uint64_t index) const;
  // The terminal's scroll from tick a to tick b as a move of the text that stayed visible.
  std::optional<Move> scroll_between(uint64_t a, uint64_t b) const;
  int text_rows() const;
  // Whether the video window plays at tick `index` (it pauses for 2 s every 10 s), and which
  // of its frames it shows then.
  bool video_playing(uint64_t index) const;
  uint64_t video_frame(uint64_t index) const;
  // Box of the painted pointer at tick `index`, clipped to the frame.
  Rect pointer_rect(uint64_t index) const;
  const Layout& layout() const { return layout_; }
  int ticks_per_line() const { return ticks_per_line_; }

 private:
  void draw_wallpaper(Frame& f) const;
  void draw_terminal(Frame& f, uint64_t index) const;
  void draw_video(Frame& f, uint64_t index) const;
  void draw_pointer(Frame& f, uint64_t index) const;
  std::string line_text(uint64_t line) const;

  Size size_;
  double fps_;
  int ticks_per_line_;
  uint64_t play_ticks_, pause_ticks_;
  Layout layout_;
  std::optional<uint64_t> last_index_;
  FramePtr last_frame_;
};

}  // namespace tessera
