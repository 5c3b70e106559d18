#include "bench/progress.h"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace tessera::bench {

Progress::Progress(uint64_t total_frames, bool enabled)
    : total_(total_frames), enabled_(enabled), tty_(::isatty(STDERR_FILENO) == 1) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::begin_run(const std::string& name, uint64_t frames) {
  run_ = name;
  run_frames_ = frames;
  run_done_ = 0;
  ++runs_;
  draw(true);
}

void Progress::frame_done() {
  ++done_;
  ++run_done_;
  draw(false);
}

void Progress::draw(bool force) {
  if (!enabled_ || !tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double frac = total_ ? double(done_) / double(total_) : 1.0;
  constexpr int kWidth = 30;
  int filled = int(frac * kWidth);
  std::string bar(size_t(filled), '#');
  bar.resize(kWidth, '.');
  double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string eta = done_ > 0 && frac < 1 ? std::to_string(int(elapsed / frac - elapsed + 0.5)) + " s left" : "";
  std::string name = run_.size() > 48 ? run_.substr(0, 45) + "..." : run_;
  std::fprintf(stderr, "\r\033[K[%s] %3d%%  %s  frame %llu/%llu  %s", bar.c_str(), int(frac * 100), name.c_str(),
               static_cast<unsigned long long>(run_done_), static_cast<unsigned long long>(run_frames_), eta.c_str());
  std::fflush(stderr);
}

void Progress::end_run(const std::string& summary) {
  if (!enabled_) return;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double frac = total_ ? double(done_) / double(total_) : 1.0;
  if (tty_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "[%3d%% %6.1f s] %s: %s\n", int(frac * 100), elapsed, run_.c_str(), summary.c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (enabled_ && tty_) std::fprintf(stderr, "\r\033[K");
}

}  // namespace tessera::bench
