#include "encode/encoder_catalog.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "encode/ffmpeg_encoder.h"
#include "encode/gstreamer_encoder.h"

namespace tessera {

namespace {

using K = EncoderKind;
struct Entry {
  VideoCodec codec;
  const char* element;
  EncoderKind kind;
};

// Hardware first (NVENC, VAAPI, QSV), then software.
constexpr Entry kFfmpeg[] = {
    {VideoCodec::h264, "h264_nvenc", K::nvenc},  {VideoCodec::h264, "h264_vaapi", K::vaapi},
    {VideoCodec::h264, "h264_qsv", K::qsv},      {VideoCodec::h264, "libx264", K::software},
    {VideoCodec::h264, "libopenh264", K::software},
    {VideoCodec::h265, "hevc_nvenc", K::nvenc},  {VideoCodec::h265, "hevc_vaapi", K::vaapi},
    {VideoCodec::h265, "hevc_qsv", K::qsv},      {VideoCodec::h265, "libx265", K::software},
    {VideoCodec::vp9, "vp9_vaapi", K::vaapi},    {VideoCodec::vp9, "vp9_qsv", K::qsv},
    {VideoCodec::vp9, "libvpx-vp9", K::software},
    {VideoCodec::vp8, "vp8_vaapi", K::vaapi},    {VideoCodec::vp8, "libvpx", K::software},
    {VideoCodec::mjpeg, "mjpeg", K::software},
};
constexpr Entry kGstreamer[] = {
    {VideoCodec::h264, "nvh264enc", K::nvenc},   {VideoCodec::h264, "vah264enc", K::vaapi},
    {VideoCodec::h264, "vaapih264enc", K::vaapi}, {VideoCodec::h264, "qsvh264enc", K::qsv},
    {VideoCodec::h264, "x264enc", K::software},  {VideoCodec::h264, "openh264enc", K::software},
    {VideoCodec::h265, "nvh265enc", K::nvenc},   {VideoCodec::h265, "vah265enc", K::vaapi},
    {VideoCodec::h265, "vaapih265enc", K::vaapi}, {VideoCodec::h265, "qsvh265enc", K::qsv},
    {VideoCodec::h265, "x265enc", K::software},
    {VideoCodec::vp9, "vavp9enc", K::vaapi},     {VideoCodec::vp9, "vaapivp9enc", K::vaapi},
    {VideoCodec::vp9, "qsvvp9enc", K::qsv},      {VideoCodec::vp9, "vp9enc", K::software},
    {VideoCodec::vp8, "vaapivp8enc", K::vaapi},  {VideoCodec::vp8, "vp8enc", K::software},
    {VideoCodec::mjpeg, "jpegenc", K::software},
};

// A small picture with some structure, so that an encoder has something real to compress.
YuvImage probe_picture(YuvLayout layout, bool full_range) {
  YuvImage p(layout, 256, 144, full_range);
  for (int y = 0; y < p.height(); ++y)
    for (int x = 0; x < p.width(); ++x) p.plane(0)[y * p.stride(0) + x] = uint8_t(16 + (x + y) % 200);
  for (int i = 1; i < p.planes(); ++i)
    for (int y = 0; y < p.height() / 2; ++y)
      for (int x = 0; x < p.stride(i); ++x) p.plane(i)[y * p.stride(i) + x] = uint8_t(128 + (x % 16));
  return p;
}

}  // namespace

std::string EncoderCandidate::label() const { return fmt::format("{}:{}", to_string(backend), element); }

std::vector<EncoderCandidate> encoder_candidates(EncoderBackend backend, VideoCodec codec) {
  std::vector<EncoderCandidate> out;
  auto add = [&](const auto& table) {
    for (const Entry& e : table)
      if (e.codec == codec) out.push_back({backend, codec, e.element, e.kind});
  };
  if (backend == EncoderBackend::ffmpeg)
    add(kFfmpeg);
  else
    add(kGstreamer);
  return out;
}

std::unique_ptr<VideoEncoder> open_encoder(const EncoderCandidate& c, const VideoEncoderConfig& cfg) {
  VideoEncoderConfig conf = cfg;
  conf.codec = c.codec;
  if (c.backend == EncoderBackend::ffmpeg) return open_ffmpeg_encoder(c.element, c.kind, conf);
  return open_gstreamer_encoder(c.element, c.kind, conf);
}

EncoderCatalog EncoderCatalog::probe(const EncoderCatalogOptions& opts) {
  EncoderCatalog cat;
  cat.opener_ = opts.opener ? opts.opener : open_encoder;
  for (VideoCodec codec : opts.codecs) {
    for (const EncoderCandidate& c : encoder_candidates(opts.backend, codec)) {
      if (cat.selected_.count(codec) && !opts.probe_all) break;
      ProbeAttempt a{c, false, {}, 0};
      auto t0 = std::chrono::steady_clock::now();
      bool excluded = std::find_if(opts.exclude.begin(), opts.exclude.end(), [&](const std::string& x) {
                        return x == c.element || x == c.label();
                      }) != opts.exclude.end();
      if (excluded) {
        a.reason = "excluded by --encoder-exclude";
      } else {
        try {
          VideoEncoderConfig cfg;
          cfg.codec = codec;
          cfg.width = 256;
          cfg.height = 144;
          cfg.bitrate_kbps = 1000;
          auto enc = cat.opener_(c, cfg);
          YuvImage pic = probe_picture(enc->input_layout(), enc->full_range_input());
          auto out = enc->encode(pic, true);
          if (out.empty() || out[0].data.empty()) throw EncoderError("opened, but produced no frame");
          if (!out[0].keyframe) throw EncoderError("opened, but its first frame is not a keyframe");
          a.ok = true;
          a.reason = fmt::format("works: a {}-byte keyframe from a 256x144 picture", out[0].data.size());
        } catch (const std::exception& e) {
          a.reason = e.what();
        }
      }
      a.millis = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (a.ok && !cat.selected_.count(codec)) {
        cat.selected_[codec] = c;
        cat.available_.push_back(codec);
      }
      cat.attempts_.push_back(std::move(a));
    }
  }
  return cat;
}

std::optional<EncoderCandidate> EncoderCatalog::selected(VideoCodec codec) const {
  auto it = selected_.find(codec);
  if (it == selected_.end()) return std::nullopt;
  return it->second;
}

std::unique_ptr<VideoEncoder> EncoderCatalog::open(VideoCodec codec, const VideoEncoderConfig& cfg) const {
  auto c = selected(codec);
  if (!c) throw EncoderError(fmt::format("no working {} encoder", to_string(codec)));
  VideoEncoderConfig conf = cfg;
  conf.codec = codec;
  return (opener_ ? opener_ : open_encoder)(*c, conf);
}

}  // namespace tessera
