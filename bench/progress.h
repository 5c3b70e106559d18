#pragma once
// Progress of a long bench run on stderr: a bar redrawn in place on a terminal, or a line per
// finished run when stderr is a file or pipe (CI logs stay readable).
#include <chrono>
#include <cstdint>
#include <string>

namespace tessera::bench {

class Progress {
 public:
  Progress(uint64_t total_frames, bool enabled);
  // A run starts: its name and how many frames it has.
  void begin_run(const std::string& name, uint64_t frames);
  void frame_done();
  void end_run(const std::string& summary);
  void finish();

 private:
  void draw(bool force);
  uint64_t total_, done_ = 0;
  uint64_t run_frames_ = 0, run_done_ = 0;
  std::string run_;
  bool enabled_, tty_;
  int runs_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace tessera::bench
