#include "bench/motion_starts.h"

#include <algorithm>
#include <cmath>

namespace tessera::bench {

using nlohmann::json;

json motion_start_figures(const std::vector<SentFrame>& frames, double fps) {
  const size_t window = size_t(std::max(1L, std::lround(fps / 2)));
  std::vector<size_t> starts, stops;
  bool had_video = false;
  for (size_t i = 1; i < frames.size(); ++i) {
    bool video = frames[i].video_played;
    if (video && (i == 1 || !frames[i - 1].video_played)) starts.push_back(i);
    if (!video && frames[i - 1].video_played) stops.push_back(i);
    had_video |= video;
  }
  if (!had_video) return nullptr;
  std::vector<uint8_t> in_start(frames.size(), 0);
  json out_starts = json::array();
  for (size_t s : starts) {
    size_t end = std::min(frames.size(), s + window);
    json first = nullptr, first_ms = nullptr;
    size_t changes = 0;
    for (size_t j = s; j < frames.size(); ++j) {
      if (!frames[j].video_played) continue;
      ++changes;
      if (frames[j].video_bytes > 0 && frames[j].video_shown) {
        first = changes;
        first_ms = std::round(double(j - s) * 1000.0 / fps * 10) / 10;
        break;
      }
    }
    size_t largest = s;
    for (size_t j = s; j < end; ++j) {
      in_start[j] = 1;
      if (frames[j].bytes > frames[largest].bytes) largest = j;
    }
    out_starts.push_back({{"frame", s},
                          {"video_at_change", first},
                          {"ms_to_video", first_ms},
                          {"largest_update_bytes", frames[largest].bytes},
                          {"largest_update_frame", largest}});
  }
  std::vector<uint64_t> steady;
  for (size_t i = 1; i < frames.size(); ++i)
    if (!in_start[i] && frames[i].video_bytes > 0) steady.push_back(frames[i].video_bytes);
  json median = nullptr, ratio = nullptr;
  if (!steady.empty()) {
    std::nth_element(steady.begin(), steady.begin() + long(steady.size() / 2), steady.end());
    uint64_t m = steady[steady.size() / 2];
    median = m;
    uint64_t largest = 0;
    for (const json& s : out_starts) largest = std::max(largest, s["largest_update_bytes"].get<uint64_t>());
    if (m > 0 && !out_starts.empty()) ratio = std::round(double(largest) / double(m) * 100) / 100;
  }
  const double frame_ms = 1000.0 / fps;
  json out_stops = json::array();
  for (size_t s : stops) {
    size_t end = frames.size();
    for (size_t t : starts)
      if (t > s) {
        end = t;
        break;
      }
    size_t largest = s, parts = 0, first = 0, last = 0;
    for (size_t j = s; j < end; ++j) {
      if (frames[j].bytes > frames[largest].bytes) largest = j;
      if (!frames[j].repaint_part) continue;
      if (!parts) first = j;
      last = j;
      ++parts;
    }
    json largest_ratio = nullptr;
    if (!median.is_null() && median.get<uint64_t>() > 0)
      largest_ratio = std::round(double(frames[largest].bytes) / median.get<double>() * 100) / 100;
    out_stops.push_back({{"frame", s},
                         {"largest_update_bytes", frames[largest].bytes},
                         {"largest_update_frame", largest},
                         {"largest_vs_stream_frame", largest_ratio},
                         {"repaint_updates", parts},
                         {"repaint_ms", parts ? json(std::round(double(last - first) * frame_ms * 10) / 10) : json(nullptr)}});
  }
  return {{"starts", out_starts},
          {"stops", out_stops},
          {"stream_frame_median_bytes", median},
          {"largest_vs_stream_frame", ratio}};
}

void MoveShare::add(const WorkloadTruth& truth, uint64_t index, const std::vector<Move>& sent, const Frame& prev,
                    const Frame& cur) {
  auto moved = truth.window_moved(index);
  if (!moved || prev.size() != cur.size()) return;
  const Rect screen = cur.bounds();
  const int32_t dx = moved->dst.x - moved->src_x, dy = moved->dst.y - moved->src_y;
  // Only what was on screen before can be copied.
  Rect from = moved->src().intersect(screen);
  Rect dst = moved->dst.intersect(screen).intersect({from.x + dx, from.y + dy, from.width, from.height});
  if (dst.empty()) return;
  ++frames_;
  Region got;
  for (const Move& m : sent)
    if (m.dst.x - m.src_x == dx && m.dst.y - m.src_y == dy) got.add(m.dst);
  got.intersect(dst);
  for (int32_t y = dst.y; y < dst.bottom(); ++y) {
    const uint32_t* c = cur.row(y);
    const uint32_t* p = prev.row(y);
    for (int32_t x = dst.x; x < dst.right(); ++x) {
      if (c[x] == p[x]) continue;
      ++moved_;
      as_moves_ += got.contains(x, y);
    }
  }
}

json MoveShare::to_json() const {
  if (moved_ == 0) return nullptr;
  return {{"frames", frames_},
          {"moved_px", moved_},
          {"as_moves_px", as_moves_},
          {"share", std::round(double(as_moves_) / double(moved_) * 10000) / 10000}};
}

}  // namespace tessera::bench
