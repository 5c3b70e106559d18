#include "encode/gstreamer_encoder.h"

#include <fmt/format.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace tessera {

namespace {

void init_gstreamer() {
  static std::once_flag once;
  std::call_once(once, [] { gst_init(nullptr, nullptr); });
}

struct GstUnref {
  void operator()(GstElement* e) const {
    gst_element_set_state(e, GST_STATE_NULL);
    gst_object_unref(e);
  }
};

// The first error the pipeline posted, if any, in words.
std::string bus_error(GstElement* pipeline) {
  GstBus* bus = gst_element_get_bus(pipeline);
  std::string reason;
  while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    if (reason.empty()) {
      GError* err = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(m, &err, &dbg);
      reason = err ? err->message : "unknown error";
      g_clear_error(&err);
      g_free(dbg);
    }
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  return reason.empty() ? "no reason given" : reason;
}

class GstreamerEncoder final : public VideoEncoder {
 public:
  GstreamerEncoder(std::string element, EncoderKind kind, VideoEncoderConfig cfg)
      : VideoEncoder(std::move(cfg)), element_(std::move(element)), kind_(kind) {
    init_gstreamer();
    GstElementFactory* f = gst_element_factory_find(element_.c_str());
    if (!f)
      throw EncoderError(fmt::format("GStreamer element {} is not available{}", element_,
                                     kind_ == EncoderKind::software ? "" : " (its plugin registers it only where the device exists)"));
    gst_object_unref(f);
    build();
  }

  YuvLayout input_layout() const override { return kind_ == EncoderKind::software ? YuvLayout::i420 : YuvLayout::nv12; }
  bool full_range_input() const override { return cfg_.codec == VideoCodec::mjpeg; }
  std::string name() const override { return "gstreamer:" + element_; }

  void set_bitrate(int kbps) override {
    cfg_.bitrate_kbps = kbps;
    set_rate();  // every element we drive takes its rate property while playing
  }

  bool wants_bt709() const override { return cfg_.codec == VideoCodec::vp8 && cfg_.height > 576; }

  std::vector<EncodedFrame> encode(const YuvImage& pic, bool force_keyframe) override {
    if (pic.width() != cfg_.width || pic.height() != cfg_.height || pic.layout() != input_layout())
      throw EncoderError(fmt::format("{}: picture {}x{} does not match the encoder's {}x{}", name(), pic.width(),
                                     pic.height(), cfg_.width, cfg_.height));
    GstBuffer* buf = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info_), nullptr);
    GstMapInfo map;
    gst_buffer_map(buf, &map, GST_MAP_WRITE);
    const int rows[3] = {pic.height(), pic.height() / 2, pic.height() / 2};
    const int bytes[3] = {pic.width(), pic.layout() == YuvLayout::nv12 ? pic.width() : pic.width() / 2,
                          pic.width() / 2};
    for (int i = 0; i < pic.planes(); ++i) {
      uint8_t* dst = map.data + GST_VIDEO_INFO_PLANE_OFFSET(&info_, i);
      int dst_stride = GST_VIDEO_INFO_PLANE_STRIDE(&info_, i);
      for (int y = 0; y < rows[i]; ++y)
        std::memcpy(dst + size_t(y) * dst_stride, pic.plane(i) + size_t(y) * pic.stride(i), size_t(bytes[i]));
    }
    gst_buffer_unmap(buf, &map);
    GstClockTime dur = gst_util_uint64_scale(GST_SECOND, 1, uint64_t(cfg_.fps));
    GST_BUFFER_PTS(buf) = GST_BUFFER_DTS(buf) = dur * frames_;
    GST_BUFFER_DURATION(buf) = dur;
    if (force_keyframe && frames_ > 0) {
      // Serialized: appsrc queues it in order with the buffers, so it applies to this picture.
      GstEvent* ev = gst_video_event_new_downstream_force_key_unit(GST_BUFFER_PTS(buf), GST_CLOCK_TIME_NONE,
                                                                   GST_CLOCK_TIME_NONE, TRUE, 0);
      gst_element_send_event(src_, ev);
    }
    ++frames_;
    if (gst_app_src_push_buffer(GST_APP_SRC(src_), buf) != GST_FLOW_OK)
      throw EncoderError(fmt::format("{}: the pipeline stopped: {}", name(), bus_error(pipeline_.get())));
    // Our elements give one frame per picture at once; allow a moment for slower ones, then
    // take whatever else is ready. Nothing out several times running means the element died.
    std::vector<EncodedFrame> out;
    GstClockTime wait = 500 * GST_MSECOND;
    while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink_), wait)) {
      GstBuffer* b = gst_sample_get_buffer(s);
      EncodedFrame ef;
      gst_buffer_map(b, &map, GST_MAP_READ);
      ef.data.assign(map.data, map.data + map.size);
      gst_buffer_unmap(b, &map);
      ef.keyframe = !GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
      gst_sample_unref(s);
      out.push_back(std::move(ef));
      wait = 0;
    }
    misses_ = out.empty() ? misses_ + 1 : 0;
    if (misses_ >= 3)
      throw EncoderError(fmt::format("{}: no frame out for 3 pictures: {}", name(), bus_error(pipeline_.get())));
    return out;
  }

 private:
  // Sets a property only where this element has it (elements differ between releases).
  void prop(const char* key, const std::string& value) {
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(enc_), key)) gst_util_set_object_arg(G_OBJECT(enc_), key, value.c_str());
  }

  void set_rate() {
    std::string kbps = std::to_string(cfg_.bitrate_kbps), bps = std::to_string(int64_t(cfg_.bitrate_kbps) * 1000);
    if (element_ == "vp8enc" || element_ == "vp9enc") {
      prop("target-bitrate", bps);
    } else if (element_ == "openh264enc") {
      prop("bitrate", bps);
    } else if (element_ == "jpegenc") {
      // Same mapping as the FFmpeg path: more bits per pixel, higher quality.
      double bpp = cfg_.bitrate_kbps * 1000.0 / std::max(1.0, double(cfg_.width) * cfg_.height * cfg_.fps);
      prop("quality", std::to_string(std::clamp(int(40 + bpp * 150), 30, 95)));
    } else {
      prop("bitrate", kbps);
    }
  }

  void configure() {
    std::string gop = std::to_string(cfg_.keyframe_interval > 0 ? cfg_.keyframe_interval : 100000);
    if (element_ == "x264enc" || element_ == "x265enc") {
      prop("tune", "zerolatency");
      prop("speed-preset", cfg_.preset.empty() ? "ultrafast" : cfg_.preset);
      prop("key-int-max", gop);
      if (element_ == "x264enc") {
        prop("byte-stream", "true");
        prop("aud", "true");
        prop("bframes", "0");
        prop("b-adapt", "false");
        prop("rc-lookahead", "0");
        const bool one = cfg_.single_slice || cfg_.threads == 1;
        prop("sliced-threads", one ? "false" : "true");
        if (one) prop("threads", "1");
        else if (cfg_.threads > 1) prop("threads", std::to_string(cfg_.threads));
        prop("option-string", "repeat-headers=1");
      } else {
        prop("option-string", "repeat-headers=1:bframes=0:log-level=error");
      }
    } else if (element_ == "openh264enc") {
      prop("rate-control", "bitrate");
      prop("complexity", "low");
      prop("gop-size", gop);
    } else if (element_ == "vp8enc" || element_ == "vp9enc") {
      prop("deadline", "1");
      prop("cpu-used", cfg_.preset.empty() ? "8" : cfg_.preset);
      prop("lag-in-frames", "0");
      prop("auto-alt-ref", "false");
      prop("end-usage", "cbr");
      prop("keyframe-max-dist", gop);
      prop("error-resilient", "default");
      prop("threads", cfg_.threads > 0 ? std::to_string(cfg_.threads) : std::string("2"));
      prop("row-mt", cfg_.threads == 1 ? "false" : "true");
      prop("min-quantizer", "4");
      prop("max-quantizer", "52");  // a floor on quality: text inside video stays legible
    } else if (kind_ == EncoderKind::nvenc) {
      prop("preset", "low-latency-hq");
      prop("zerolatency", "true");
      prop("bframes", "0");
      prop("rc-mode", "cbr");
      prop("gop-size", gop);
    } else if (kind_ == EncoderKind::vaapi || kind_ == EncoderKind::qsv) {
      prop("b-frames", "0");
      prop("rate-control", "cbr");
      prop("key-int-max", gop);
      prop("keyframe-period", gop);  // gstreamer-vaapi's name for it
      prop("low-latency", "true");
    }
    set_rate();
  }

  std::string output_caps() const {
    switch (cfg_.codec) {
      case VideoCodec::h264: return "video/x-h264,stream-format=byte-stream,alignment=au";
      case VideoCodec::h265: return "video/x-h265,stream-format=byte-stream,alignment=au";
      case VideoCodec::vp8: return "video/x-vp8";
      case VideoCodec::vp9: return "video/x-vp9";
      case VideoCodec::mjpeg: return "image/jpeg";
    }
    return "ANY";
  }

  void build() {
    std::string desc =
        fmt::format("appsrc name=src is-live=true format=time ! {} name=enc ! capsfilter caps=\"{}\" ! "
                    "appsink name=sink sync=false",
                    element_, output_caps());
    GError* err = nullptr;
    GstElement* p = gst_parse_launch(desc.c_str(), &err);
    if (p) gst_object_ref_sink(p);  // a floating reference: make it ours
    if (err) {
      std::string why = err->message;
      g_clear_error(&err);
      if (p) gst_object_unref(p);
      throw EncoderError(fmt::format("{}: cannot build the pipeline: {}", name(), why));
    }
    pipeline_.reset(p);
    src_ = gst_bin_get_by_name(GST_BIN(p), "src");
    enc_ = gst_bin_get_by_name(GST_BIN(p), "enc");
    sink_ = gst_bin_get_by_name(GST_BIN(p), "sink");
    // The bin holds references; ours are released at once and the pointers stay valid.
    gst_object_unref(src_);
    gst_object_unref(enc_);
    gst_object_unref(sink_);

    const bool nv12 = input_layout() == YuvLayout::nv12;
    gst_video_info_set_format(&info_, nv12 ? GST_VIDEO_FORMAT_NV12 : GST_VIDEO_FORMAT_I420, guint(cfg_.width),
                              guint(cfg_.height));
    info_.fps_n = cfg_.fps;
    info_.fps_d = 1;
    gst_video_colorimetry_from_string(&info_.colorimetry,
                                      cfg_.codec == VideoCodec::mjpeg ? "jpeg" : wants_bt709() ? "bt709" : "bt601");
    GstCaps* caps = gst_video_info_to_caps(&info_);
    gst_app_src_set_caps(GST_APP_SRC(src_), caps);
    gst_caps_unref(caps);
    configure();
    if (gst_element_set_state(p, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
      throw EncoderError(fmt::format("{}: cannot start: {}", name(), bus_error(p)));
  }

  std::string element_;
  EncoderKind kind_;
  std::unique_ptr<GstElement, GstUnref> pipeline_;
  GstElement *src_ = nullptr, *enc_ = nullptr, *sink_ = nullptr;
  GstVideoInfo info_;
  uint64_t frames_ = 0;
  int misses_ = 0;
};

}  // namespace

std::unique_ptr<VideoEncoder> open_gstreamer_encoder(const std::string& element, EncoderKind kind,
                                                     const VideoEncoderConfig& cfg) {
  return std::make_unique<GstreamerEncoder>(element, kind, cfg);
}

}  // namespace tessera
