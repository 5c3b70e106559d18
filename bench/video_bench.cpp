// Video encode path at 1080p: per-frame latency (colour conversion + encode) p50/p99, bitrate
// and quality per codec, backend and preset; and, in the same run, the time ratio of Tessera's
// H.264 path to the ffmpeg command line on the same raw frames:
//   ffmpeg -f rawvideo -pix_fmt bgr0 ... -c:v libx264 -preset ultrafast -tune zerolatency
// Goal (issue: video streams): ratio <= 1.10.
//
//   build/tessera_video_bench                      the default matrix and the ffmpeg ratio
//   build/tessera_video_bench --frames 30 --quick  a short run (CI smoke test)
//   build/tessera_video_bench --json out.json      also write the figures as JSON
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "capture/demo_source.h"
#include "core/image_compare.h"
#include "encode/color_convert.h"
#include "encode/encoder_catalog.h"
#include "encode/ffmpeg_decoder.h"

using namespace tessera;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = size_t(std::ceil(p / 100.0 * double(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

struct RunResult {
  std::string label, preset;
  std::vector<double> convert_ms, encode_ms, total_ms;
  uint64_t bytes = 0;
  double psnr_mean = 0, psnr_min = 0;
  double wall_ms = 0;  // encoder open + every frame
  std::string error;
};

// Runs the encode path on every frame: convert BGRX -> YUV once, then encode.
RunResult run_path(const EncoderCandidate& cand, const std::string& preset, const std::vector<FramePtr>& frames,
                   int fps, int kbps, bool measure_quality) {
  RunResult r;
  r.label = cand.label();
  r.preset = preset;
  const Frame& first = *frames.front();
  Rect area{0, 0, first.width() & ~1, first.height() & ~1};
  auto t0 = Clock::now();
  try {
    VideoEncoderConfig cfg;
    cfg.codec = cand.codec;
    cfg.width = area.width;
    cfg.height = area.height;
    cfg.fps = fps;
    cfg.bitrate_kbps = kbps;
    cfg.preset = preset;
    auto enc = open_encoder(cand, cfg);
    YuvImage pic(enc->input_layout(), area.width, area.height, enc->full_range_input());
    std::optional<FfmpegDecoder> dec;
    if (measure_quality) dec.emplace(cand.codec);
    double psnr_sum = 0, psnr_min = 1e9;
    int n = 0;
    for (const FramePtr& f : frames) {
      auto a = Clock::now();
      bgrx_to_yuv(*f, area, pic);
      auto b = Clock::now();
      auto out = enc->encode(pic, false);
      auto c = Clock::now();
      r.convert_ms.push_back(std::chrono::duration<double, std::milli>(b - a).count());
      r.encode_ms.push_back(std::chrono::duration<double, std::milli>(c - b).count());
      r.total_ms.push_back(std::chrono::duration<double, std::milli>(c - a).count());
      for (const EncodedFrame& ef : out) r.bytes += ef.data.size();
      if (dec && !out.empty()) {
        auto pic_out = dec->decode(out.back().data);
        if (pic_out) {
          double p = std::min(99.0, psnr(*f, *pic_out, area));
          psnr_sum += p;
          psnr_min = std::min(psnr_min, p);
          ++n;
        }
      }
    }
    r.wall_ms = ms_since(t0);
    if (n) {
      r.psnr_mean = psnr_sum / n;
      r.psnr_min = psnr_min;
    }
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

// The ffmpeg CLI on the same frames, read from a file in memory (tmpfs): returns its own
// "rtime" (the transcode loop, start-up and option parsing excluded) in ms, or -1.
double run_ffmpeg_cli(const std::vector<FramePtr>& frames, int fps, int kbps, std::string& cmd_out) {
  const Frame& f0 = *frames.front();
  std::string dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  std::string raw = fmt::format("{}/tessera_bench_{}.bgr0", dir, ::getpid());
  std::string err = raw + ".log";
  {
    std::ofstream out(raw, std::ios::binary);
    for (const FramePtr& f : frames)
      for (int y = 0; y < f->height(); ++y)
        out.write(reinterpret_cast<const char*>(f->row(y)), std::streamsize(f->width()) * 4);
  }
  cmd_out = fmt::format(
      "ffmpeg -hide_banner -nostdin -benchmark -f rawvideo -pix_fmt bgr0 -s {}x{} -r {} -i {} -c:v libx264 "
      "-preset ultrafast -tune zerolatency -b:v {}k -maxrate {}k -bufsize {}k -pix_fmt yuv420p -f null -",
      f0.width(), f0.height(), fps, raw, kbps, kbps, kbps / 2);
  int rc = std::system((cmd_out + " > " + err + " 2>&1").c_str());
  double rtime = -1;
  std::ifstream log(err);
  std::string line;
  while (std::getline(log, line)) {
    auto p = line.find("rtime=");
    if (p != std::string::npos) rtime = std::atof(line.c_str() + p + 6) * 1000.0;
  }
  std::remove(raw.c_str());
  std::remove(err.c_str());
  return rc == 0 ? rtime : -1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Tessera video encode benchmark: latency, bitrate and quality per codec, backend and preset, "
               "and the ratio to the ffmpeg CLI"};
  int frames_n = 90, fps = 30, kbps = 8000;
  std::string size = "1920x1080", json_path;
  bool quick = false;
  app.add_option("--frames", frames_n, "Frames of the demo desktop to encode (video playing)")->capture_default_str();
  app.add_option("--size", size, "Frame size WxH")->capture_default_str();
  app.add_option("--fps", fps, "Frame rate given to the encoders")->capture_default_str();
  app.add_option("--bitrate", kbps, "Target bitrate in kb/s")->capture_default_str();
  app.add_option("--json", json_path, "Write every figure to this JSON file");
  app.add_flag("--quick", quick, "Only the H.264 comparison with the ffmpeg CLI (no matrix)");
  CLI11_PARSE(app, argc, argv);
  int w = 0, h = 0;
  if (std::sscanf(size.c_str(), "%dx%d", &w, &h) != 2 || w < 16 || h < 16) {
    std::fprintf(stderr, "--size: expected WxH\n");
    return 2;
  }

  std::printf("generating %d demo frames at %dx%d ...\n", frames_n, w, h);
  std::fflush(stdout);
  DemoSource demo({w, h}, fps);
  std::vector<FramePtr> frames;
  for (int i = 0; i < frames_n; ++i) frames.push_back(demo.capture(uint64_t(30 + i)).frame);

  nlohmann::json js;
  js["frames"] = frames_n;
  js["size"] = size;
  js["fps"] = fps;
  js["bitrate_kbps"] = kbps;

  // Colour conversion: ours against libswscale on the same full frame.
  {
    Rect area{0, 0, w & ~1, h & ~1};
    YuvImage pic(YuvLayout::i420, area.width, area.height);
    SwsConverter sws;
    std::vector<double> ours, theirs;
    for (int rep = 0; rep < 3; ++rep)
      for (const FramePtr& f : frames) {
        auto t = Clock::now();
        bgrx_to_yuv(*f, area, pic);
        ours.push_back(ms_since(t));
        t = Clock::now();
        sws.convert(*f, area, pic);
        theirs.push_back(ms_since(t));
      }
    std::printf("\nBGRX -> I420 of a full frame: ours p50 %.2f ms, libswscale p50 %.2f ms (ratio %.2f)\n",
                percentile(ours, 50), percentile(theirs, 50), percentile(ours, 50) / percentile(theirs, 50));
    js["convert"] = {{"ours_p50_ms", percentile(ours, 50)}, {"swscale_p50_ms", percentile(theirs, 50)}};
  }

  // Tessera's H.264 path against the ffmpeg CLI, in this run.
  {
    std::string cmd;
    RunResult ours = run_path({EncoderBackend::ffmpeg, VideoCodec::h264, "libx264", EncoderKind::software},
                              "ultrafast", frames, fps, kbps, false);
    double cli = run_ffmpeg_cli(frames, fps, kbps, cmd);
    std::printf("\nTessera (convert + libx264 ultrafast/zerolatency): %.0f ms for %d frames (encoder open included)\n",
                ours.wall_ms, frames_n);
    if (cli > 0) {
      std::printf("ffmpeg CLI (its rtime):                            %.0f ms\n", cli);
      std::printf("ratio Tessera / ffmpeg CLI: %.3f   (goal <= 1.10)\n", ours.wall_ms / cli);
    } else {
      std::printf("ffmpeg CLI failed or printed no rtime: %s\n", cmd.c_str());
    }
    js["vs_ffmpeg_cli"] = {{"tessera_ms", ours.wall_ms}, {"ffmpeg_cli_rtime_ms", cli}, {"command", cmd},
                           {"ratio", cli > 0 ? ours.wall_ms / cli : -1.0}};
  }
  if (quick) {
    if (!json_path.empty()) std::ofstream(json_path) << js.dump(2) << "\n";
    return 0;
  }

  struct Config {
    EncoderBackend backend;
    VideoCodec codec;
    const char* element;
    const char* preset;
  };
  const Config matrix[] = {
      {EncoderBackend::ffmpeg, VideoCodec::h264, "libx264", "ultrafast"},
      {EncoderBackend::ffmpeg, VideoCodec::h264, "libx264", "superfast"},
      {EncoderBackend::ffmpeg, VideoCodec::h264, "libx264", "veryfast"},
      {EncoderBackend::ffmpeg, VideoCodec::h265, "libx265", "ultrafast"},
      {EncoderBackend::ffmpeg, VideoCodec::vp9, "libvpx-vp9", "8"},
      {EncoderBackend::ffmpeg, VideoCodec::vp9, "libvpx-vp9", "6"},
      {EncoderBackend::ffmpeg, VideoCodec::vp8, "libvpx", "8"},
      {EncoderBackend::ffmpeg, VideoCodec::mjpeg, "mjpeg", ""},
      {EncoderBackend::gstreamer, VideoCodec::h264, "x264enc", "ultrafast"},
      {EncoderBackend::gstreamer, VideoCodec::h264, "openh264enc", ""},
      {EncoderBackend::gstreamer, VideoCodec::h265, "x265enc", "ultrafast"},
      {EncoderBackend::gstreamer, VideoCodec::vp9, "vp9enc", "8"},
      {EncoderBackend::gstreamer, VideoCodec::vp8, "vp8enc", "8"},
      {EncoderBackend::gstreamer, VideoCodec::mjpeg, "jpegenc", ""},
  };
  std::printf("\n%-22s %-10s %9s %9s %9s %9s %10s %9s %9s\n", "encoder", "preset", "conv p50", "enc p50", "total p50",
              "total p99", "kb/s", "PSNR avg", "PSNR min");
  js["matrix"] = nlohmann::json::array();
  for (const Config& c : matrix) {
    RunResult r = run_path({c.backend, c.codec, c.element, EncoderKind::software}, c.preset, frames, fps, kbps, true);
    if (!r.error.empty()) {
      std::printf("%-22s %-10s failed: %s\n", r.label.c_str(), c.preset, r.error.c_str());
      continue;
    }
    double kbits = double(r.bytes) * 8 / 1000 / (double(frames_n) / fps);
    std::printf("%-22s %-10s %8.2fms %8.2fms %8.2fms %8.2fms %10.0f %8.2fdB %8.2fdB\n", r.label.c_str(), c.preset,
                percentile(r.convert_ms, 50), percentile(r.encode_ms, 50), percentile(r.total_ms, 50),
                percentile(r.total_ms, 99), kbits, r.psnr_mean, r.psnr_min);
    std::fflush(stdout);
    js["matrix"].push_back({{"encoder", r.label},
                            {"codec", std::string(to_string(c.codec))},
                            {"preset", c.preset},
                            {"convert_p50_ms", percentile(r.convert_ms, 50)},
                            {"encode_p50_ms", percentile(r.encode_ms, 50)},
                            {"total_p50_ms", percentile(r.total_ms, 50)},
                            {"total_p99_ms", percentile(r.total_ms, 99)},
                            {"kbps", kbits},
                            {"psnr_mean_db", r.psnr_mean},
                            {"psnr_min_db", r.psnr_min}});
  }
  if (!json_path.empty()) std::ofstream(json_path) << js.dump(2) << "\n";
  return 0;
}
