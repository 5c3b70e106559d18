#include "capture/demo_source.h"

#include <array>
#include <cmath>
#include <stdexcept>

#include "capture/demo_glyphs.h"
#include "capture/splitmix.h"

namespace tessera {

namespace {

constexpr int kTitleBar = 20;
constexpr int kPadding = 4;
constexpr double kLinesPerSecond = 4.0;
constexpr double kVideoPlaySeconds = 8.0;
constexpr double kVideoPauseSeconds = 2.0;

Rect inset(const Rect& r, int top, int side) {
  Rect o{r.x + side, r.y + top, r.width - 2 * side, r.height - top - side};
  if (o.width < 0) o.width = 0;
  if (o.height < 0) o.height = 0;
  return o;
}

Rect scaled(Size s, double x, double y, double w, double h) {
  return Rect{int32_t(s.width * x), int32_t(s.height * y), int32_t(s.width * w), int32_t(s.height * h)};
}

void draw_window(Frame& f, const Rect& win, std::string_view title, uint32_t body) {
  f.fill(win, bgrx(0x30, 0x34, 0x3c));
  Rect bar{win.x, win.y, win.width, std::min(kTitleBar, win.height)};
  f.fill(bar, bgrx(0x3d, 0x5a, 0x80));
  demo::draw_text(f, win.x + 6, win.y + 4, title, bgrx(0xf0, 0xf0, 0xf0), bar);
  f.fill(inset(win, kTitleBar, 1), body);
}

// Smooth, slowly changing colour field: sums of sines through lookup tables.
struct Plasma {
  std::array<int, 256> sine{};
  std::array<uint32_t, 256> palette{};
  Plasma() {
    for (int i = 0; i < 256; ++i) {
      sine[size_t(i)] = int(std::lround(63.0 * std::sin(i * 2.0 * M_PI / 256.0)));
      double t = i / 256.0;
      palette[size_t(i)] = bgrx(uint8_t(128 + 127 * std::sin(2 * M_PI * t)),
                                uint8_t(128 + 127 * std::sin(2 * M_PI * t + 2.1)),
                                uint8_t(128 + 127 * std::sin(2 * M_PI * t + 4.2)));
    }
  }
};

const Plasma& plasma() {
  static const Plasma p;
  return p;
}

}  // namespace

DemoSource::DemoSource(Size size, double fps) : size_(size), fps_(fps) {
  if (size.width < 1 || size.height < 1 || size.width > 16384 || size.height > 16384)
    throw std::invalid_argument("demo size must be between 1x1 and 16384x16384");
  if (!(fps > 0)) throw std::invalid_argument("fps must be positive");
  ticks_per_line_ = std::max(1, int(std::lround(fps / kLinesPerSecond)));
  play_ticks_ = uint64_t(std::max(1L, std::lround(fps * kVideoPlaySeconds)));
  pause_ticks_ = uint64_t(std::max(1L, std::lround(fps * kVideoPauseSeconds)));
  Rect screen{0, 0, size.width, size.height};
  layout_.terminal = scaled(size, 0.04, 0.08, 0.44, 0.62).intersect(screen);
  layout_.terminal_text = inset(layout_.terminal, kTitleBar + kPadding, kPadding).intersect(screen);
  layout_.video = scaled(size, 0.52, 0.14, 0.43, 0.46).intersect(screen);
  layout_.video_content = inset(layout_.video, kTitleBar, 1).intersect(screen);
}

std::string DemoSource::description() const {
  return "demo desktop " + std::to_string(size_.width) + "x" + std::to_string(size_.height);
}

uint64_t DemoSource::scrolled_lines(uint64_t index) const { return index / uint64_t(ticks_per_line_); }

int DemoSource::text_rows() const { return layout_.terminal_text.height / demo::kCellHeight; }

std::optional<Move> DemoSource::scroll_between(uint64_t a, uint64_t b) const {
  uint64_t la = scrolled_lines(a), lb = scrolled_lines(b);
  if (lb <= la || lb - la >= uint64_t(text_rows())) return std::nullopt;
  int32_t shift = int32_t(lb - la) * demo::kCellHeight;
  const Rect& t = layout_.terminal_text;
  Move m;
  m.dst = {t.x, t.y, t.width, text_rows() * demo::kCellHeight - shift};
  m.src_x = t.x;
  m.src_y = t.y + shift;
  return m;
}

bool DemoSource::video_playing(uint64_t index) const { return index % (play_ticks_ + pause_ticks_) < play_ticks_; }

uint64_t DemoSource::video_frame(uint64_t index) const {
  uint64_t cycle = play_ticks_ + pause_ticks_;
  return (index / cycle) * play_ticks_ + std::min(index % cycle, play_ticks_ - 1);
}

std::string DemoSource::line_text(uint64_t line) const {
  static constexpr std::array<std::string_view, 16> words = {
      "build", "tessera", "frame", "tile", "damage", "encode", "spice", "display",
      "region", "ok", "ms", "lz4", "stream", "client", "ticket", "render"};
  uint64_t h = splitmix64(line);
  std::string s;
  if (h % 5 == 0) {
    s = "user@tessera:~$ ";
    h = splitmix64(h);
  }
  int n = 3 + int(h % 9);
  for (int i = 0; i < n; ++i) {
    h = splitmix64(h + uint64_t(i));
    s += words[h % words.size()];
    s += (h >> 8) % 7 == 0 ? ": " : " ";
    if ((h >> 16) % 4 == 0) s += std::to_string((h >> 20) % 1000) + " ";
  }
  return s;
}

void DemoSource::draw_wallpaper(Frame& f) const {
  for (int32_t y = 0; y < f.height(); ++y) {
    double t = f.height() > 1 ? double(y) / (f.height() - 1) : 0.0;
    uint32_t base = bgrx(uint8_t(0x1c + 0x20 * t), uint8_t(0x3a + 0x30 * t), uint8_t(0x5e + 0x28 * t));
    uint32_t* row = f.row(y);
    for (int32_t x = 0; x < f.width(); ++x)
      row[x] = ((x & 63) == 0 || (y & 63) == 0) ? base + 0x00080808u : base;
  }
}

void DemoSource::draw_terminal(Frame& f, uint64_t index) const {
  if (layout_.terminal.empty()) return;
  draw_window(f, layout_.terminal, "Terminal", bgrx(0x1a, 0x1c, 0x20));
  const Rect& text = layout_.terminal_text;
  if (text.empty()) return;
  uint64_t first = scrolled_lines(index);
  int rows = text.height / demo::kCellHeight;
  for (int r = 0; r < rows; ++r) {
    std::string s = line_text(first + uint64_t(r));
    uint32_t fg = s.rfind("user@", 0) == 0 ? bgrx(0x8a, 0xe2, 0x34) : bgrx(0xd0, 0xd0, 0xd0);
    demo::draw_text(f, text.x, text.y + r * demo::kCellHeight, s, fg, text);
  }
}

void DemoSource::draw_video(Frame& f, uint64_t index) const {
  if (layout_.video.empty()) return;
  draw_window(f, layout_.video, "Video", bgrx(0, 0, 0));
  const Rect& v = layout_.video_content;
  const Plasma& p = plasma();
  int t = int(video_frame(index) % 1024);
  for (int32_t y = v.y; y < v.bottom(); ++y) {
    uint32_t* row = f.row(y);
    int yy = y - v.y;
    int a = p.sine[size_t((yy * 2 + t * 3) & 255)];
    for (int32_t x = v.x; x < v.right(); ++x) {
      int xx = x - v.x;
      int s = a + p.sine[size_t((xx * 3 - t * 2) & 255)] + p.sine[size_t(((xx + yy) + t * 5) & 255)] +
              p.sine[size_t(((xx - yy) * 2 - t) & 255)];
      row[x] = p.palette[size_t((s + t) & 255)];
    }
  }
}

Rect DemoSource::pointer_rect(uint64_t index) const {
  auto arrow = default_arrow_cursor();
  double ph = double(index);
  int32_t cx = int32_t(size_.width * (0.5 + 0.4 * std::sin(ph * 0.031)));
  int32_t cy = int32_t(size_.height * (0.5 + 0.4 * std::sin(ph * 0.047 + 1.0)));
  return Rect{cx, cy, arrow->width, arrow->height}.intersect({0, 0, size_.width, size_.height});
}

void DemoSource::draw_pointer(Frame& f, uint64_t index) const {
  auto arrow = default_arrow_cursor();
  Rect r = pointer_rect(index);
  for (int32_t y = r.y; y < r.bottom(); ++y)
    for (int32_t x = r.x; x < r.right(); ++x) {
      uint32_t argb = arrow->argb[size_t((y - r.y) * arrow->width + (x - r.x))];
      if (argb >> 24) f.set_pixel(x, y, argb | 0xFF000000u);
    }
}

Frame DemoSource::render(uint64_t index) const {
  Frame f(size_.width, size_.height);
  draw_wallpaper(f);
  draw_terminal(f, index);
  draw_video(f, index);
  draw_pointer(f, index);
  return f;
}

Region DemoSource::damage_between(uint64_t a, uint64_t b) const {
  Region d;
  if (a == b) return d;
  if (video_frame(a) != video_frame(b)) d.add(layout_.video_content);
  if (scrolled_lines(a) != scrolled_lines(b)) d.add(layout_.terminal_text);
  Rect pa = pointer_rect(a), pb = pointer_rect(b);
  if (pa != pb) d.add(pa).add(pb);
  return d;
}

CapturedFrame DemoSource::capture(uint64_t index) {
  CapturedFrame c;
  if (last_index_ && *last_index_ == index) return {last_frame_, {}};
  c.damage = last_index_ ? damage_between(*last_index_, index) : Region(Rect{0, 0, size_.width, size_.height});
  c.frame = std::make_shared<Frame>(render(index));
  last_index_ = index;
  last_frame_ = c.frame;
  return c;
}

std::optional<CursorState> DemoSource::cursor(uint64_t) {
  // The animated pointer is part of the picture; viewers get a plain arrow for their own.
  return CursorState{default_arrow_cursor(), size_.width / 2, size_.height / 2, true};
}

}  // namespace tessera
