#include "bench/workloads.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <stdexcept>

#include "capture/demo_glyphs.h"
#include "capture/demo_source.h"
#include "capture/splitmix.h"

namespace tessera::bench {

namespace {

using demo::kCellHeight;
using demo::kCellWidth;

constexpr int kTitleBar = 20;

Rect frac(Size s, double x, double y, double w, double h) {
  Rect r{int32_t(s.width * x), int32_t(s.height * y), int32_t(s.width * w), int32_t(s.height * h)};
  return r.intersect({0, 0, s.width, s.height});
}

Rect body_of(const Rect& win) {
  Rect b{win.x + 1, win.y + kTitleBar, win.width - 2, win.height - kTitleBar - 1};
  return b.width > 0 && b.height > 0 ? b : Rect{};
}

void wallpaper(Frame& f) {
  for (int32_t y = 0; y < f.height(); ++y) {
    double t = f.height() > 1 ? double(y) / (f.height() - 1) : 0.0;
    uint32_t c = bgrx(uint8_t(0x2a + 0x18 * t), uint8_t(0x33 + 0x22 * t), uint8_t(0x44 + 0x30 * t));
    std::fill(f.row(y), f.row(y) + f.width(), c);
  }
}

void window(Frame& f, const Rect& win, std::string_view title, uint32_t body) {
  Rect w = win.intersect(f.bounds());
  if (w.empty()) return;
  f.fill(w, bgrx(0x50, 0x54, 0x5c));
  Rect bar = Rect{win.x, win.y, win.width, std::min(kTitleBar, win.height)}.intersect(f.bounds());
  f.fill(bar, bgrx(0x3d, 0x5a, 0x80));
  demo::draw_text(f, win.x + 6, win.y + 4, title, bgrx(0xf0, 0xf0, 0xf0), bar);
  f.fill(body_of(win).intersect(f.bounds()), body);
}

std::string words_line(uint64_t seed, int max_chars) {
  static constexpr std::array<std::string_view, 24> words = {
      "the", "frame", "encoder", "sends", "only", "what", "changed", "since", "last", "tile", "region", "static",
      "motion", "lossless", "video", "latency", "bitrate", "client", "server", "quality", "is", "a", "of", "to"};
  std::string s;
  uint64_t h = splitmix64(seed);
  while (true) {
    h = splitmix64(h);
    std::string_view w = words[h % words.size()];
    if (int(s.size() + w.size() + 1) > max_chars) break;
    s += w;
    s += (h >> 12) % 9 == 0 ? ". " : " ";
  }
  return s;
}

// Paragraphs of text in a light window: what office documents, web pages and mail look like.
void text_page(Frame& f, const Rect& area, uint64_t first_line, uint64_t seed, uint32_t bg, uint32_t fg) {
  f.fill(area.intersect(f.bounds()), bg);
  int cols = std::max(1, (area.width - 8) / kCellWidth);
  for (int r = 0; r * kCellHeight + kCellHeight <= area.height; ++r) {
    uint64_t line = first_line + uint64_t(r);
    if (splitmix64(line ^ seed) % 7 == 0) continue;  // paragraph break
    int len = cols * 2 / 3 + int(splitmix64(line * 31 + seed) % uint64_t(std::max(1, cols / 3)));
    demo::draw_text(f, area.x + 4, area.y + r * kCellHeight, words_line(line * 977 + seed, len), fg, area);
  }
}

// A textured landscape panned like a camera, with a few moving objects: enough detail and
// motion that a video codec has work to do, and nothing a lossless codec could keep up with.
class Footage {
 public:
  Footage() : tex_(size_t(kTex) * kTex) {
    // Value noise at three scales, bilinearly interpolated: hills, bushes, grass.
    auto lattice = [](int x, int y, int s) { return double(splitmix64(uint64_t(x) * 73856093u ^ uint64_t(y) * 19349663u ^ uint64_t(s)) & 255); };
    for (int y = 0; y < kTex; ++y)
      for (int x = 0; x < kTex; ++x) {
        double v[3];
        const int scales[3] = {128, 32, 8};
        for (int k = 0; k < 3; ++k) {
          int s = scales[k];
          int x0 = x / s, y0 = y / s;
          double fx = double(x % s) / s, fy = double(y % s) / s;
          int n = kTex / s;
          auto at = [&](int a, int b) { return lattice(a % n, b % n, s); };
          double top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx;
          double bot = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx;
          v[k] = top * (1 - fy) + bot * fy;
        }
        double h = 0.55 * v[0] + 0.3 * v[1] + 0.15 * v[2];
        uint8_t r = uint8_t(std::clamp(40 + h * 0.5, 0.0, 255.0));
        uint8_t g = uint8_t(std::clamp(60 + h * 0.7, 0.0, 255.0));
        uint8_t b = uint8_t(std::clamp(30 + (255 - h) * 0.4, 0.0, 255.0));
        tex_[size_t(y) * kTex + size_t(x)] = bgrx(r, g, b);
      }
  }
  void draw(Frame& f, const Rect& area, uint64_t tick) const {
    Rect a = area.intersect(f.bounds());
    double t = double(tick);
    int32_t dx = int32_t(std::lround(t * 3.0 + 40 * std::sin(t * 0.05)));
    int32_t dy = int32_t(std::lround(t * 1.0 + 25 * std::sin(t * 0.037)));
    for (int32_t y = a.y; y < a.bottom(); ++y) {
      uint32_t* row = f.row(y);
      const uint32_t* src = &tex_[size_t((y - area.y + dy) & (kTex - 1)) * kTex];
      for (int32_t x = a.x; x < a.right(); ++x) row[x] = src[(x - area.x + dx) & (kTex - 1)];
    }
    // Three balls crossing the scene.
    for (int k = 0; k < 3; ++k) {
      double ph = t * (0.04 + 0.013 * k) + k * 2.1;
      int32_t cx = area.x + int32_t(area.width * (0.5 + 0.4 * std::sin(ph)));
      int32_t cy = area.y + int32_t(area.height * (0.5 + 0.4 * std::cos(ph * 1.3)));
      int32_t rad = std::max(4, std::min(area.width, area.height) / (8 + 2 * k));
      uint32_t col = k == 0 ? bgrx(0xe0, 0x40, 0x30) : k == 1 ? bgrx(0xf0, 0xd0, 0x40) : bgrx(0x40, 0x80, 0xe0);
      Rect box = Rect{cx - rad, cy - rad, 2 * rad + 1, 2 * rad + 1}.intersect(a);
      for (int32_t y = box.y; y < box.bottom(); ++y)
        for (int32_t x = box.x; x < box.right(); ++x) {
          int64_t ddx = x - cx, ddy = y - cy;
          int64_t d2 = ddx * ddx + ddy * ddy, r2 = int64_t(rad) * rad;
          if (d2 <= r2) {
            // Shaded: lighter towards the top left.
            int shade = int(40 * (ddx + ddy) / std::max(1, rad));
            uint32_t c = col;
            auto ch = [&](int sh) { return uint8_t(std::clamp(int((c >> sh) & 255) - shade, 0, 255)); };
            f.set_pixel(x, y, bgrx(ch(16), ch(8), ch(0)));
          }
        }
    }
  }

 private:
  static constexpr int kTex = 1024;
  std::vector<uint32_t> tex_;
};

const Footage& footage() {
  static const Footage f;
  return f;
}

// Base for the scenes: size, rate, and damage since the previous capture.
class Scene : public FrameSource, public WorkloadTruth {
 public:
  Scene(Size size, double fps, std::string name) : size_(size), fps_(fps), name_(std::move(name)) {
    if (size.width < 64 || size.height < 64 || size.width > 8192 || size.height > 8192)
      throw std::invalid_argument("bench size must be between 64x64 and 8192x8192");
    if (!(fps > 0)) throw std::invalid_argument("fps must be positive");
  }
  std::string description() const override { return name_ + " workload"; }
  Region video_changed(uint64_t) const override { return {}; }
  std::optional<Move> window_moved(uint64_t) const override { return std::nullopt; }
  Size size() const override { return size_; }
  CapturedFrame capture(uint64_t index) override {
    auto f = std::make_shared<Frame>(size_.width, size_.height);
    render(*f, index);
    CapturedFrame c;
    c.frame = f;
    c.damage = last_ ? damage(*last_, index) : Region(Rect{0, 0, size_.width, size_.height});
    last_ = index;
    return c;
  }

 protected:
  virtual void render(Frame& f, uint64_t index) const = 0;
  // Every pixel that may differ between ticks a and b.
  virtual Region damage(uint64_t a, uint64_t b) const = 0;
  double seconds(uint64_t index) const { return double(index) / fps_; }
  Size size_;
  double fps_;

 private:
  std::string name_;
  std::optional<uint64_t> last_;
};

class OfficeScene : public Scene {
 public:
  OfficeScene(Size s, double fps) : Scene(s, fps, "office") {
    editor_ = frac(s, 0.03, 0.05, 0.55, 0.88);
    log_ = frac(s, 0.61, 0.05, 0.36, 0.60);
    panel_ = Rect{0, s.height - 24, s.width, 24}.intersect({0, 0, s.width, s.height});
    Rect b = body_of(editor_);
    text_ = Rect{b.x + 4, b.y + 4, b.width - 8, b.height - 8};
    cols_ = std::max(8, text_.width / kCellWidth - 1);
    rows_ = std::max(4, text_.height / kCellHeight);
  }

 protected:
  // Typing at 12 characters a second; lines of 60-100 % of the width.
  uint64_t typed(uint64_t index) const { return uint64_t(seconds(index) * 12.0); }
  int line_len(uint64_t n) const { return cols_ * 6 / 10 + int(splitmix64(n) % uint64_t(std::max(1, cols_ * 4 / 10))); }
  void cursor(uint64_t index, uint64_t& line, int& col) const {
    // Starts with a page already written, so the view scrolls soon.
    uint64_t c = typed(index);
    line = uint64_t(rows_ - 3);
    while (c >= uint64_t(line_len(line))) c -= uint64_t(line_len(line++));
    col = int(c);
  }
  uint64_t top(uint64_t line) const { return line + 3 > uint64_t(rows_) ? line + 3 - uint64_t(rows_) : 0; }
  // The log pane takes 3 lines every half second.
  uint64_t log_lines(uint64_t index) const { return uint64_t(seconds(index) * 2.0) * 3; }

  void render(Frame& f, uint64_t index) const override {
    wallpaper(f);
    window(f, editor_, "report.txt - Editor", bgrx(0xfb, 0xfb, 0xf8));
    uint64_t line;
    int col;
    cursor(index, line, col);
    uint64_t t = top(line);
    uint32_t ink = bgrx(0x20, 0x20, 0x28);
    for (int r = 0; r < rows_; ++r) {
      uint64_t n = t + uint64_t(r);
      if (n > line) break;
      std::string s = words_line(n, line_len(n));
      s.resize(size_t(line_len(n)), ' ');
      if (n == line) s.resize(size_t(col));
      demo::draw_text(f, text_.x, text_.y + r * kCellHeight, s, ink, text_);
    }
    // Caret, blinking at 2 Hz.
    if (uint64_t(seconds(index) * 4.0) % 2 == 0) {
      Rect caret{text_.x + col * kCellWidth, text_.y + int32_t(line - t) * kCellHeight, 2, kCellHeight};
      f.fill(caret.intersect(text_), ink);
    }
    window(f, log_, "server.log", bgrx(0x18, 0x1a, 0x1e));
    Rect lb = body_of(log_);
    text_page(f, Rect{lb.x + 2, lb.y + 2, lb.width - 4, lb.height - 4}, log_lines(index), 77, bgrx(0x18, 0x1a, 0x1e),
              bgrx(0xb8, 0xd8, 0xb0));
    f.fill(panel_, bgrx(0x22, 0x22, 0x26));
    uint64_t secs = uint64_t(seconds(index)) + 9 * 3600 + 41 * 60;
    char clock[16];
    std::snprintf(clock, sizeof clock, "%02u:%02u:%02u", unsigned(secs / 3600 % 24), unsigned(secs / 60 % 60),
                  unsigned(secs % 60));
    demo::draw_text(f, panel_.right() - 80, panel_.y + 6, clock, bgrx(0xe0, 0xe0, 0xe0), panel_);
  }
  Region damage(uint64_t a, uint64_t b) const override {
    Region d;
    uint64_t la, lb;
    int ca, cb;
    cursor(a, la, ca);
    cursor(b, lb, cb);
    if (la != lb || ca != cb || top(la) != top(lb)) d.add(text_);
    if (uint64_t(seconds(a) * 4.0) != uint64_t(seconds(b) * 4.0)) d.add(text_);
    if (log_lines(a) != log_lines(b)) d.add(body_of(log_));
    if (uint64_t(seconds(a)) != uint64_t(seconds(b))) d.add(panel_);
    return d;
  }

 private:
  Rect editor_, log_, panel_, text_;
  int cols_ = 0, rows_ = 0;
};

// The video scenes: a player window on a page of text, or video filling the screen; playing
// throughout, opening at 1 s, pausing from 1 s to 2 s, or (full screen) starting at 0.5 s over
// a page of text.
enum class VideoPlay { throughout, opens, pauses };

class VideoScene : public Scene {
 public:
  VideoScene(Size s, double fps, bool full, VideoPlay play, std::string name)
      : Scene(s, fps, std::move(name)), full_(full), play_(play) {
    page_ = frac(s, 0.02, 0.04, 0.96, 0.92);
    player_ = frac(s, 0.30, 0.16, 0.56, 0.60);
    picture_ = full ? Rect{0, 0, s.width, s.height} : body_of(player_);
    footage();  // its texture is built here, not inside the first frame that shows it (timed)
  }
  Region video_changed(uint64_t index) const override {
    if (index == 0) return {};
    auto a = tick(index - 1), b = tick(index);
    return b && a != b ? Region(picture_) : Region{};
  }

 protected:
  // The footage's tick shown at `index`; none before the video appears.
  std::optional<uint64_t> tick(uint64_t index) const {
    const uint64_t second = uint64_t(std::llround(fps_));
    switch (play_) {
      case VideoPlay::throughout: return index;
      case VideoPlay::opens:
        if (index < (full_ ? second / 2 : second)) return std::nullopt;
        return index - (full_ ? second / 2 : second);
      case VideoPlay::pauses:
        if (index < second) return index;
        if (index < 2 * second) return second;
        return index - second;
    }
    return index;
  }
  void render(Frame& f, uint64_t index) const override {
    auto t = tick(index);
    if (full_) {
      if (t) {
        footage().draw(f, picture_, *t);
      } else {
        text_page(f, picture_, 3, 17, bgrx(0xfa, 0xfa, 0xfa), bgrx(0x20, 0x20, 0x20));
      }
      return;
    }
    wallpaper(f);
    window(f, page_, "News - Browser", bgrx(0xff, 0xff, 0xff));
    Rect pb = body_of(page_);
    text_page(f, Rect{pb.x + 8, pb.y + 8, player_.x - pb.x - 24, pb.height - 16}, 0, 11, bgrx(0xff, 0xff, 0xff),
              bgrx(0x30, 0x30, 0x30));
    text_page(f, Rect{player_.x, player_.bottom() + 8, player_.width, pb.bottom() - player_.bottom() - 16}, 40, 12,
              bgrx(0xff, 0xff, 0xff), bgrx(0x30, 0x30, 0x30));
    if (!t) return;  // the player is not open yet: the page shows through
    window(f, player_, "Video", bgrx(0, 0, 0));
    footage().draw(f, picture_, *t);
  }
  Region damage(uint64_t a, uint64_t b) const override {
    auto ta = tick(a), tb = tick(b);
    if (ta == tb) return {};
    return Region(ta && tb ? picture_ : full_ ? picture_ : player_);
  }

 private:
  bool full_;
  VideoPlay play_;
  Rect page_, player_, picture_;
};

class DragScene : public Scene {
 public:
  DragScene(Size s, double fps) : Scene(s, fps, "drag") {
    back_ = frac(s, 0.05, 0.06, 0.50, 0.70);
    win_size_ = {s.width * 2 / 5, s.height * 2 / 5};
  }

 protected:
  // Dragged for 2 s along an ellipse, then held still for 1 s.
  Rect window_at(uint64_t index) const {
    double t = seconds(index);
    double moving = std::floor(t / 3.0) * 2.0 + std::min(std::fmod(t, 3.0), 2.0);
    double ph = moving * 1.1;
    int32_t x = int32_t((size_.width - win_size_.width) * (0.5 + 0.45 * std::sin(ph)));
    int32_t y = int32_t((size_.height - win_size_.height) * (0.5 + 0.45 * std::sin(ph * 0.7 + 1.0)));
    return {x, y, win_size_.width, win_size_.height};
  }
  void render(Frame& f, uint64_t index) const override {
    wallpaper(f);
    window(f, back_, "Files", bgrx(0xf4, 0xf4, 0xf4));
    Rect bb = body_of(back_);
    text_page(f, Rect{bb.x + 4, bb.y + 4, bb.width - 8, bb.height - 8}, 5, 21, bgrx(0xf4, 0xf4, 0xf4),
              bgrx(0x28, 0x28, 0x28));
    Rect w = window_at(index);
    window(f, w, "Mail - Dragged", bgrx(0xff, 0xff, 0xf0));
    Rect wb = body_of(w);
    text_page(f, Rect{wb.x + 4, wb.y + 4, wb.width - 8, wb.height - 8}, 0, 31, bgrx(0xff, 0xff, 0xf0),
              bgrx(0x10, 0x10, 0x40));
  }
  std::optional<Move> window_moved(uint64_t index) const override {
    if (index == 0) return std::nullopt;
    Rect a = window_at(index - 1), b = window_at(index);
    if (a == b) return std::nullopt;
    return Move{b, a.x, a.y};
  }
  Region damage(uint64_t a, uint64_t b) const override {
    Rect ra = window_at(a), rb = window_at(b);
    return ra == rb ? Region{} : Region(ra).add(rb);
  }

 private:
  Rect back_;
  Size win_size_;
};

}  // namespace

const std::vector<std::string>& builtin_workloads() {
  static const std::vector<std::string> names = {"office",    "video",      "mixed",     "drag",
                                                  "fullvideo", "videostart", "videopause", "fullstart"};
  return names;
}

std::unique_ptr<FrameSource> make_workload(const std::string& spec, Size size, double fps) {
  if (spec == "office") return std::make_unique<OfficeScene>(size, fps);
  if (spec == "video") return std::make_unique<VideoScene>(size, fps, false, VideoPlay::throughout, spec);
  if (spec == "fullvideo") return std::make_unique<VideoScene>(size, fps, true, VideoPlay::throughout, spec);
  if (spec == "videostart") return std::make_unique<VideoScene>(size, fps, false, VideoPlay::opens, spec);
  if (spec == "videopause") return std::make_unique<VideoScene>(size, fps, false, VideoPlay::pauses, spec);
  if (spec == "fullstart") return std::make_unique<VideoScene>(size, fps, true, VideoPlay::opens, spec);
  if (spec == "drag") return std::make_unique<DragScene>(size, fps);
  if (spec == "mixed") return std::make_unique<DemoSource>(size, fps);
  if (spec.rfind("video:", 0) == 0 || spec.rfind("trace:", 0) == 0) {
    SourceOptions o;
    o.size = size;
    o.fps = fps;
    return make_frame_source(spec, o);
  }
  throw std::invalid_argument("unknown workload '" + spec +
                              "' (expected office, video, mixed, drag, fullvideo, videostart, videopause, fullstart, "
                              "video:PATH or trace:DIR)");
}

}  // namespace tessera::bench
