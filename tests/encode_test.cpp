// Colour conversion, both encoder backends with every software codec, and encoder selection.
#include <gtest/gtest.h>

#include "capture/demo_source.h"
#include "core/image_compare.h"
#include "encode/color_convert.h"
#include "encode/encoder_catalog.h"
#include "encode/ffmpeg_decoder.h"

namespace tessera {
namespace {

Rect even(Rect r) {
  r.x &= ~1;
  r.y &= ~1;
  r.width &= ~1;
  r.height &= ~1;
  return r;
}

TEST(ColorConvert, KnownColoursLimitedAndFullRange) {
  struct Case {
    uint32_t px;
    int y, u, v;     // limited range
    int fy, fu, fv;  // full range
  };
  const Case cases[] = {{bgrx(255, 255, 255), 235, 128, 128, 255, 128, 128},
                        {bgrx(0, 0, 0), 16, 128, 128, 0, 128, 128},
                        {bgrx(255, 0, 0), 82, 90, 240, 76, 85, 255},
                        {bgrx(0, 255, 0), 145, 54, 34, 150, 44, 21},
                        {bgrx(0, 0, 255), 41, 240, 110, 29, 255, 107}};
  for (const Case& c : cases) {
    Frame f(4, 4);
    f.fill(f.bounds(), c.px);
    for (bool full : {false, true}) {
      for (YuvLayout layout : {YuvLayout::i420, YuvLayout::nv12}) {
        YuvImage out(layout, 4, 4, full);
        bgrx_to_yuv(f, f.bounds(), out);
        int u = out.plane(1)[0];
        int v = layout == YuvLayout::nv12 ? out.plane(1)[1] : out.plane(2)[0];
        EXPECT_NEAR(out.plane(0)[out.stride(0) + 1], full ? c.fy : c.y, 1) << std::hex << c.px;
        EXPECT_NEAR(u, full ? c.fu : c.u, 1) << std::hex << c.px;
        EXPECT_NEAR(v, full ? c.fv : c.v, 1) << std::hex << c.px;
      }
    }
  }
}

TEST(ColorConvert, Bt709WhereDecodersAssumeIt) {
  Frame f(4, 4);
  f.fill(f.bounds(), bgrx(255, 0, 0));
  YuvImage out(YuvLayout::i420, 4, 4);
  out.set_bt709(true);
  bgrx_to_yuv(f, f.bounds(), out);
  EXPECT_NEAR(out.plane(0)[0], 63, 1);
  EXPECT_NEAR(out.plane(1)[0], 102, 1);
  EXPECT_NEAR(out.plane(2)[0], 240, 1);
  // VP8 cannot signal its matrix; GStreamer assumes BT.709 above 576 rows.
  VideoEncoderConfig cfg;
  cfg.width = 64;
  cfg.height = 600;
  EXPECT_TRUE(open_encoder({EncoderBackend::ffmpeg, VideoCodec::vp8, "libvpx", EncoderKind::software}, cfg)->wants_bt709());
  EXPECT_FALSE(open_encoder({EncoderBackend::ffmpeg, VideoCodec::vp9, "libvpx-vp9", EncoderKind::software}, cfg)->wants_bt709());
  cfg.height = 480;
  EXPECT_FALSE(open_encoder({EncoderBackend::gstreamer, VideoCodec::vp8, "vp8enc", EncoderKind::software}, cfg)->wants_bt709());
}

TEST(ColorConvert, AgreesWithLibswscale) {
  DemoSource demo({640, 400}, 30);
  FramePtr f = demo.capture(40).frame;
  Rect r = even(demo.layout().video_content);
  for (YuvLayout layout : {YuvLayout::i420, YuvLayout::nv12}) {
    YuvImage ours(layout, r.width, r.height), theirs(layout, r.width, r.height);
    bgrx_to_yuv(*f, r, ours);
    SwsConverter sws;
    sws.convert(*f, r, theirs);
    int max_y = 0;
    for (int y = 0; y < r.height; ++y)
      for (int x = 0; x < r.width; ++x)
        max_y = std::max(max_y, std::abs(ours.plane(0)[y * ours.stride(0) + x] - theirs.plane(0)[y * theirs.stride(0) + x]));
    EXPECT_LE(max_y, 1);
    // Chroma: libswscale filters differently at block edges; the mean must agree.
    double diff = 0;
    int n = 0;
    for (int i = 1; i < ours.planes(); ++i)
      for (int y = 0; y < r.height / 2; ++y)
        for (int x = 0; x < (layout == YuvLayout::nv12 ? r.width : r.width / 2); ++x, ++n)
          diff += std::abs(ours.plane(i)[y * ours.stride(i) + x] - theirs.plane(i)[y * theirs.stride(i) + x]);
    EXPECT_LT(diff / n, 2.0);
  }
}

TEST(ColorConvert, RejectsMismatchedSizes) {
  Frame f(64, 64);
  YuvImage out(YuvLayout::i420, 32, 32);
  EXPECT_THROW(bgrx_to_yuv(f, {0, 0, 16, 16}, out), std::invalid_argument);
  EXPECT_THROW(bgrx_to_yuv(f, {48, 48, 32, 32}, out), std::invalid_argument);
  EXPECT_THROW(YuvImage(YuvLayout::i420, 31, 32), std::invalid_argument);
}

// H.264/H.265 NAL unit types present in an Annex-B access unit.
std::vector<int> nal_types(const std::vector<uint8_t>& au, VideoCodec codec) {
  std::vector<int> types;
  for (size_t i = 0; i + 3 < au.size(); ++i) {
    if (au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1) {
      int h = au[i + 3];
      types.push_back(codec == VideoCodec::h264 ? (h & 0x1F) : ((h >> 1) & 0x3F));
      i += 2;
    }
  }
  return types;
}

struct EncoderCase {
  EncoderBackend backend;
  VideoCodec codec;
  const char* element;
};

class SoftwareEncoder : public testing::TestWithParam<EncoderCase> {};

TEST_P(SoftwareEncoder, EncodesLowLatencyFramesThatDecodeWell) {
  const EncoderCase& p = GetParam();
  DemoSource demo({640, 400}, 30);
  Rect r = even(demo.layout().video_content);
  EncoderCandidate cand{p.backend, p.codec, p.element, EncoderKind::software};
  VideoEncoderConfig cfg;
  cfg.width = r.width;
  cfg.height = r.height;
  cfg.bitrate_kbps = 3000;
  auto enc = open_encoder(cand, cfg);
  EXPECT_EQ(enc->name(), cand.label());
  FfmpegDecoder dec(p.codec);
  YuvImage pic(enc->input_layout(), r.width, r.height, enc->full_range_input());
  double worst = 1e9;
  for (int i = 0; i < 12; ++i) {
    FramePtr f = demo.capture(uint64_t(30 + i)).frame;
    bgrx_to_yuv(*f, r, pic);
    if (i == 6) enc->set_bitrate(2000);
    auto frames_out = enc->encode(pic, i == 8);
    ASSERT_EQ(frames_out.size(), 1u) << "frame " << i << ": one picture in, one frame out";
    const EncodedFrame* out = &frames_out[0];
    ASSERT_FALSE(out->data.empty());
    if (i == 0 || i == 8) {
      EXPECT_TRUE(out->keyframe) << "frame " << i;
    }
    if (p.codec == VideoCodec::h264 || p.codec == VideoCodec::h265) {
      ASSERT_GE(out->data.size(), 4u);
      EXPECT_TRUE(out->data[0] == 0 && out->data[1] == 0 && (out->data[2] == 1 || (out->data[2] == 0 && out->data[3] == 1)))
          << "not Annex-B";
      if (out->keyframe) {
        auto t = nal_types(out->data, p.codec);
        int sps = p.codec == VideoCodec::h264 ? 7 : 33;
        EXPECT_NE(std::find(t.begin(), t.end(), sps), t.end()) << "keyframe without in-band SPS";
      }
    }
    // No reordering: each frame decodes as soon as it arrives.
    auto pic_out = dec.decode(out->data);
    ASSERT_TRUE(pic_out) << "decoder held frame " << i << " back";
    Frame src(r.width, r.height);
    for (int y = 0; y < r.height; ++y)
      for (int x = 0; x < r.width; ++x) src.set_pixel(x, y, f->pixel(r.x + x, r.y + y));
    worst = std::min(worst, psnr(src, *pic_out, src.bounds()));
  }
  EXPECT_EQ(dec.flush(), 0);
  EXPECT_GE(worst, 30.0) << cand.label();
}

std::string case_name(const testing::TestParamInfo<EncoderCase>& i) {
  std::string s = std::string(to_string(i.param.backend)) + "_" + i.param.element;
  for (char& c : s)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(All, SoftwareEncoder,
                         testing::Values(EncoderCase{EncoderBackend::ffmpeg, VideoCodec::h264, "libx264"},
                                         EncoderCase{EncoderBackend::ffmpeg, VideoCodec::h265, "libx265"},
                                         EncoderCase{EncoderBackend::ffmpeg, VideoCodec::vp9, "libvpx-vp9"},
                                         EncoderCase{EncoderBackend::ffmpeg, VideoCodec::vp8, "libvpx"},
                                         EncoderCase{EncoderBackend::ffmpeg, VideoCodec::mjpeg, "mjpeg"},
                                         EncoderCase{EncoderBackend::gstreamer, VideoCodec::h264, "x264enc"},
                                         EncoderCase{EncoderBackend::gstreamer, VideoCodec::h264, "openh264enc"},
                                         EncoderCase{EncoderBackend::gstreamer, VideoCodec::h265, "x265enc"},
                                         EncoderCase{EncoderBackend::gstreamer, VideoCodec::vp9, "vp9enc"},
                                         EncoderCase{EncoderBackend::gstreamer, VideoCodec::vp8, "vp8enc"},
                                         EncoderCase{EncoderBackend::gstreamer, VideoCodec::mjpeg, "jpegenc"}),
                         case_name);

TEST(Encoder, RejectsAPictureOfTheWrongSize) {
  VideoEncoderConfig cfg;
  cfg.width = 64;
  cfg.height = 64;
  for (EncoderBackend b : {EncoderBackend::ffmpeg, EncoderBackend::gstreamer}) {
    const char* x264 = b == EncoderBackend::ffmpeg ? "libx264" : "x264enc";
    auto enc = open_encoder({b, VideoCodec::h264, x264, EncoderKind::software}, cfg);
    YuvImage wrong(enc->input_layout(), 32, 32);
    EXPECT_THROW(enc->encode(wrong, false), EncoderError);
  }
}

TEST(Encoder, MissingElementsSayWhy) {
  VideoEncoderConfig cfg;
  cfg.width = 64;
  cfg.height = 64;
  try {
    open_encoder({EncoderBackend::ffmpeg, VideoCodec::h264, "no_such_encoder", EncoderKind::software}, cfg);
    FAIL();
  } catch (const EncoderError& e) {
    EXPECT_NE(std::string(e.what()).find("not built into this FFmpeg"), std::string::npos) << e.what();
  }
  try {
    open_encoder({EncoderBackend::gstreamer, VideoCodec::h264, "nosuchenc", EncoderKind::nvenc}, cfg);
    FAIL();
  } catch (const EncoderError& e) {
    EXPECT_NE(std::string(e.what()).find("not available"), std::string::npos) << e.what();
  }
}

// Stands in for a hardware encoder that works.
class FakeEncoder : public VideoEncoder {
 public:
  explicit FakeEncoder(VideoEncoderConfig c, std::string n) : VideoEncoder(std::move(c)), name_(std::move(n)) {}
  YuvLayout input_layout() const override { return YuvLayout::nv12; }
  std::vector<EncodedFrame> encode(const YuvImage&, bool) override { return {EncodedFrame{{1, 2, 3}, true}}; }
  void set_bitrate(int) override {}
  std::string name() const override { return name_; }

 private:
  std::string name_;
};

TEST(EncoderCatalog, HardwareFirstWhenItWorks) {
  EncoderCatalogOptions o;
  o.codecs = {VideoCodec::h264, VideoCodec::vp9};
  o.opener = [](const EncoderCandidate& c, const VideoEncoderConfig& cfg) -> std::unique_ptr<VideoEncoder> {
    if (c.kind == EncoderKind::software) throw EncoderError("should not be needed");
    return std::make_unique<FakeEncoder>(cfg, c.label());
  };
  auto cat = EncoderCatalog::probe(o);
  ASSERT_TRUE(cat.selected(VideoCodec::h264));
  EXPECT_EQ(cat.selected(VideoCodec::h264)->element, "h264_nvenc");
  EXPECT_EQ(cat.selected(VideoCodec::vp9)->element, "vp9_vaapi");
  EXPECT_EQ(cat.attempts().size(), 2u);  // the first that works ends the search
  EXPECT_EQ(cat.open(VideoCodec::h264, {})->name(), "ffmpeg:h264_nvenc");
}

TEST(EncoderCatalog, FallsBackInOrderWhenHardwareFails) {
  EncoderCatalogOptions o;
  o.backend = EncoderBackend::gstreamer;
  o.codecs = {VideoCodec::h264};
  o.exclude = {"nvh264enc"};
  std::vector<std::string> tried;
  o.opener = [&](const EncoderCandidate& c, const VideoEncoderConfig& cfg) -> std::unique_ptr<VideoEncoder> {
    tried.push_back(c.element);
    if (c.kind != EncoderKind::software) throw EncoderError("device gone");
    return std::make_unique<FakeEncoder>(cfg, c.label());
  };
  auto cat = EncoderCatalog::probe(o);
  EXPECT_EQ(cat.selected(VideoCodec::h264)->element, "x264enc");
  EXPECT_EQ(tried, (std::vector<std::string>{"vah264enc", "vaapih264enc", "qsvh264enc", "x264enc"}));
  ASSERT_GE(cat.attempts().size(), 5u);
  EXPECT_EQ(cat.attempts()[0].reason, "excluded by --encoder-exclude");
  EXPECT_EQ(cat.attempts()[1].reason, "device gone");
  EXPECT_TRUE(cat.attempts()[4].ok);
}

TEST(EncoderCatalog, NothingWorksMeansNoCodec) {
  EncoderCatalogOptions o;
  o.codecs = {VideoCodec::vp8};
  o.probe_all = true;
  o.opener = [](const EncoderCandidate&, const VideoEncoderConfig&) -> std::unique_ptr<VideoEncoder> {
    throw EncoderError("broken");
  };
  auto cat = EncoderCatalog::probe(o);
  EXPECT_TRUE(cat.available().empty());
  EXPECT_EQ(cat.attempts().size(), encoder_candidates(EncoderBackend::ffmpeg, VideoCodec::vp8).size());
  EXPECT_THROW(cat.open(VideoCodec::vp8, {}), EncoderError);
}

TEST(EncoderCatalog, RealProbeOnThisMachineFindsSoftwareEncoders) {
  for (EncoderBackend b : {EncoderBackend::ffmpeg, EncoderBackend::gstreamer}) {
    EncoderCatalogOptions o;
    o.backend = b;
    o.codecs = {VideoCodec::h264, VideoCodec::vp9};
    o.probe_all = true;
    auto cat = EncoderCatalog::probe(o);
    ASSERT_TRUE(cat.selected(VideoCodec::h264)) << to_string(b);
    ASSERT_TRUE(cat.selected(VideoCodec::vp9)) << to_string(b);
    for (const ProbeAttempt& a : cat.attempts()) EXPECT_FALSE(a.reason.empty()) << a.candidate.label();
  }
}

}  // namespace
}  // namespace tessera
