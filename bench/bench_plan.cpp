#include "bench/bench_plan.h"

#include <fmt/format.h>

#include <cstdio>
#include <stdexcept>
#include <unordered_set>
#include <toml++/toml.h>

#include "encode/video_codec.h"
#include "transport/spice/display_update_writer.h"

namespace tessera::bench {

std::string RunConfig::slug() const {
  std::string s = codec;
  if (codec != "off") {
    if (backend != "ffmpeg") s += "-" + backend;
    if (!preset.empty()) s += "-" + preset;
    s += fmt::format("-{}k", bitrate_kbps);
  }
  s += fmt::format("-t{}", tile_size);
  if (enter_changes != 4 || enter_window != 6) s += fmt::format("-e{}of{}", enter_changes, enter_window);
  if (lossless_after_ms != 300) s += fmt::format("-l{}", lossless_after_ms);
  if (min_motion_tiles != 12) s += fmt::format("-m{}", min_motion_tiles);
  if (threads != 1 && codec != "off") s += threads ? fmt::format("-th{}", threads) : std::string("-thauto");
  if (image_codec != "auto") s += "-img" + image_codec;
  if (fast_motion_tiles != 48) s += fmt::format("-f{}", fast_motion_tiles);
  if (!picture_start) s += "-nopic";
  if (repaint_budget != "auto") s += "-rp" + repaint_budget;
  if (!moves) s += "-nomoves";
  return s;
}

std::string RunConfig::label() const {
  if (codec == "off") return fmt::format("lossless only, tile {}{}", tile_size, moves ? "" : ", no moves");
  std::string s = codec;
  if (backend != "ffmpeg") s += " (" + backend + ")";
  if (!preset.empty()) s += " " + preset;
  s += fmt::format(" {} kb/s, tile {}", bitrate_kbps, tile_size);
  if (enter_changes != 4 || enter_window != 6) s += fmt::format(", motion {} of {}", enter_changes, enter_window);
  if (lossless_after_ms != 300) s += fmt::format(", lossless after {} ms", lossless_after_ms);
  if (min_motion_tiles != 12) s += fmt::format(", min {} tiles", min_motion_tiles);
  if (threads != 1) s += threads ? fmt::format(", {} threads", threads) : std::string(", encoder's threads");
  if (image_codec != "auto") s += ", images " + image_codec;
  if (fast_motion_tiles != 48) s += fmt::format(", fast entry {} tiles", fast_motion_tiles);
  if (!picture_start) s += ", no picture start";
  if (repaint_budget != "auto")
    s += repaint_budget == "off" ? std::string(", repaint at once") : ", repaint " + repaint_budget + " KB per update";
  if (!moves) s += ", no moves";
  return s;
}

nlohmann::json RunConfig::to_json() const {
  return {{"codec", codec},
          {"backend", backend},
          {"preset", preset},
          {"bitrate_kbps", bitrate_kbps},
          {"tile_size", tile_size},
          {"enter_changes", enter_changes},
          {"enter_window", enter_window},
          {"lossless_after_ms", lossless_after_ms},
          {"min_motion_tiles", min_motion_tiles},
          {"threads", threads},
          {"image_codec", image_codec},
          {"fast_motion_tiles", fast_motion_tiles},
          {"picture_start", picture_start},
          {"repaint_budget", repaint_budget},
          {"moves", moves}};
}

void RunConfig::validate() const {
  if (codec != "off" && !parse_video_codec(codec))
    throw std::invalid_argument("codec '" + codec + "' (expected h264, vp9, vp8, h265, mjpeg or off)");
  if (!parse_encoder_backend(backend)) throw std::invalid_argument("backend '" + backend + "' (expected ffmpeg or gstreamer)");
  if (bitrate_kbps < 50 || bitrate_kbps > 1'000'000) throw std::invalid_argument("bitrate must be 50..1000000 kb/s");
  if (tile_size < 4 || tile_size > 256) throw std::invalid_argument("tile size must be 4..256");
  if (enter_window < 1 || enter_window > 16) throw std::invalid_argument("enter_window must be 1..16");
  if (enter_changes < 1 || enter_changes > enter_window)
    throw std::invalid_argument("enter_changes must be 1..enter_window");
  if (lossless_after_ms < 0 || lossless_after_ms > 60000) throw std::invalid_argument("lossless_after_ms must be 0..60000");
  if (min_motion_tiles < 1) throw std::invalid_argument("min_motion_tiles must be >= 1");
  if (fast_motion_tiles < 0) throw std::invalid_argument("fast_motion_tiles must be >= 0 (0: off)");
  if (threads < 0 || threads > 64) throw std::invalid_argument("threads must be 0..64 (0: the encoder's choice)");
  if (!spice::parse_image_codec(image_codec))
    throw std::invalid_argument("image_codec '" + image_codec + "' (expected auto, glz, lz4, palette or off)");
  if (!spice::parse_repaint_pacing(repaint_budget))
    throw std::invalid_argument("repaint_budget '" + repaint_budget + "' (expected auto, off or KB per update, 1..1048576)");
}

std::vector<RunConfig> Sweep::expand() const {
  // The product is checked before anything is built: a few long lists multiply to more runs
  // than any machine finishes (a fuzzed plan took 19 s just to expand).
  const size_t sizes[] = {codec.size(),        backend.size(),           preset.size(),           bitrate_kbps.size(),
                          tile_size.size(),    enter_changes.size(),     enter_window.size(),     lossless_after_ms.size(),
                          min_motion_tiles.size(), threads.size(),       image_codec.size(),      fast_motion_tiles.size(),
                          picture_start.size(), repaint_budget.size(),   moves.size()};
  size_t product = 1;
  for (size_t n : sizes) {
    if (n == 0) throw std::invalid_argument("a sweep list is empty");
    product = n > kMaxSweepRuns / product ? kMaxSweepRuns + 1 : product * n;
  }
  if (product > kMaxSweepRuns)
    throw std::invalid_argument(fmt::format("the sweep combines to more than {} runs: shorten its lists",
                                            kMaxSweepRuns));
  std::vector<RunConfig> out;
  std::unordered_set<std::string> seen;
  for (const auto& c : codec)
    for (const auto& b : backend)
      for (const auto& p : preset)
        for (int br : bitrate_kbps)
          for (int t : tile_size)
            for (int ec : enter_changes)
              for (int ew : enter_window)
                for (int la : lossless_after_ms)
                  for (int mm : min_motion_tiles)
                    for (int th : threads)
                      for (const auto& ic : image_codec)
                        for (int fm : fast_motion_tiles)
                          for (bool ps : picture_start)
                            for (const auto& rp : repaint_budget)
                              for (bool mv : moves) {
                        RunConfig r{c, b, p, br, t, ec, ew, la, mm, th, ic, fm, ps, rp, mv};
                        r.validate();
                        // "off" ignores the encoder settings: one run per remaining setting.
                        if (c == "off") r.backend = "ffmpeg", r.preset = "", r.bitrate_kbps = 0, r.threads = 1;
                        if (seen.insert(r.slug()).second) out.push_back(r);
                              }
  return out;
}

Size parse_size(const std::string& s) {
  int w = 0, h = 0;
  char tail = 0;
  if (std::sscanf(s.c_str(), "%dx%d%c", &w, &h, &tail) != 2 || w < 64 || h < 64 || w > 8192 || h > 8192)
    throw std::invalid_argument("size '" + s + "' (expected WxH, 64..8192 each)");
  return {w, h};
}

namespace {

template <typename T>
std::vector<T> values(const toml::node& n, const std::string& key) {
  std::vector<T> out;
  auto one = [&](const toml::node& v) {
    if constexpr (std::is_same_v<T, std::string>) {
      auto s = v.value<std::string>();
      if (!s) throw std::runtime_error("'" + key + "' must be a string or a list of strings");
      out.push_back(*s);
    } else if constexpr (std::is_same_v<T, bool>) {
      auto b = v.value<bool>();
      if (!b || !v.is_boolean()) throw std::runtime_error("'" + key + "' must be true/false or a list of them");
      out.push_back(*b);
    } else {
      auto i = v.value<int64_t>();
      if (!i) throw std::runtime_error("'" + key + "' must be an integer or a list of integers");
      if (*i < -1'000'000'000 || *i > 1'000'000'000) throw std::runtime_error("'" + key + "' is out of range");
      out.push_back(T(*i));
    }
  };
  if (auto* arr = n.as_array()) {
    for (const auto& v : *arr) one(v);
    if (out.empty()) throw std::runtime_error("'" + key + "' is an empty list");
  } else {
    one(n);
  }
  return out;
}

}  // namespace

void load_plan_toml(const std::string& path, BenchPlan& plan) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(fmt::format("{}:{}:{}: {}", path, e.source().begin.line, e.source().begin.column,
                                         std::string(e.description())));
  }
  try {
    for (const auto& [k, v] : t) {
      std::string key(k.str());
      if (key == "frames") {
        plan.frames = values<int>(v, key).at(0);
      } else if (key == "fps") {
        auto d = v.value<double>();
        if (!d) throw std::runtime_error("'fps' must be a number");
        plan.fps = *d;
      } else if (key == "size") {
        plan.size = parse_size(values<std::string>(v, key).at(0));
      } else if (key == "workloads") {
        plan.workloads = values<std::string>(v, key);
      } else if (key == "baselines") {
        auto b = v.value<bool>();
        if (!b) throw std::runtime_error("'baselines' must be true or false");
        plan.baselines = *b;
      } else if (key == "sweep") {
        auto* sw = v.as_table();
        if (!sw) throw std::runtime_error("'sweep' must be a table");
        for (const auto& [sk, sv] : *sw) {
          std::string s(sk.str());
          Sweep& p = plan.sweep;
          if (s == "codec") p.codec = values<std::string>(sv, s);
          else if (s == "backend") p.backend = values<std::string>(sv, s);
          else if (s == "preset") p.preset = values<std::string>(sv, s);
          else if (s == "bitrate_kbps") p.bitrate_kbps = values<int>(sv, s);
          else if (s == "tile_size") p.tile_size = values<int>(sv, s);
          else if (s == "enter_changes") p.enter_changes = values<int>(sv, s);
          else if (s == "enter_window") p.enter_window = values<int>(sv, s);
          else if (s == "lossless_after_ms") p.lossless_after_ms = values<int>(sv, s);
          else if (s == "min_motion_tiles") p.min_motion_tiles = values<int>(sv, s);
          else if (s == "threads") p.threads = values<int>(sv, s);
          else if (s == "image_codec") p.image_codec = values<std::string>(sv, s);
          else if (s == "repaint_budget") p.repaint_budget = values<std::string>(sv, s);
          else if (s == "fast_motion_tiles") p.fast_motion_tiles = values<int>(sv, s);
          else if (s == "picture_start") p.picture_start = values<bool>(sv, s);
          else if (s == "moves") p.moves = values<bool>(sv, s);
          else throw std::runtime_error("unknown setting 'sweep." + s + "'");
        }
      } else {
        throw std::runtime_error("unknown setting '" + key + "'");
      }
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

}  // namespace tessera::bench
